"""``python -m slipway.variants hash --check`` (the fast pre-commit entry, see fastcli.py)."""

import sys

from slipway.variants.fastcli import main

sys.exit(main())
