#!/bin/sh
# Installs the `exp` dependency group at container start, then runs the command.
# Sources, first found: $SLIPWAY_EXP (space-separated requirement specs, set by whoever starts the
# container, e.g. from `slipway images ci` output), else /opt/slipway/exp-requirements.txt.
set -eu
exp_file=/opt/slipway/exp-requirements.txt
if [ -n "${SLIPWAY_EXP:-}" ]; then
  echo "slipway: installing exp group: ${SLIPWAY_EXP}" >&2
  # shellcheck disable=SC2086
  pip install --no-cache-dir --find-links /opt/slipway/wheels ${SLIPWAY_PIP_ARGS:-} ${SLIPWAY_EXP} >&2
elif [ -s "$exp_file" ]; then
  echo "slipway: installing exp group from $exp_file" >&2
  # shellcheck disable=SC2086
  pip install --no-cache-dir --find-links /opt/slipway/wheels ${SLIPWAY_PIP_ARGS:-} -r "$exp_file" >&2
fi
exec "$@"
