#!/bin/sh
# `slipway` inside the runs image: the runner's part of the CLI from /opt/slipway/src.
exec python3 -c 'import sys; from slipway.cli import main; sys.argv[0] = "slipway"; main()' "$@"
