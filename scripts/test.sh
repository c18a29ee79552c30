#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/bootstrap.sh), then runs pytest, whose
# fixtures start the real servers (dockerd, PostgreSQL, Prometheus, a registry, moto, Prefect, sshd)
# on loopback and stop them at the end. Extra arguments go to pytest.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash scripts/bootstrap.sh
export PATH="$here/.venv/bin:$PATH"
exec .venv/bin/python -m pytest "$@"
