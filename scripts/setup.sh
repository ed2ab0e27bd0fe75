#!/usr/bin/env bash
# Create .venv and install mlflow-syncer with its test dependencies (idempotent; quiet unless it fails).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=.venv/setup.log
if ! { .venv/bin/python -m pip install --upgrade pip \
       && .venv/bin/python -m pip install -c constraints.txt -e ".[dev,postgres,azureml,ray,server]"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "setup failed; full log in $log" >&2
  exit 1
fi
