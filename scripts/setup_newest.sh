#!/usr/bin/env bash
# Create .venv-newest: mlflow-syncer with the newest MLflow 3.x (constraints-newest.txt) and the test tools, for
# tests/test_newest_mlflow.py. Idempotent (skips pip when constraints-newest.txt and pyproject.toml are unchanged),
# quiet unless it fails. On failure it warns, leaves .venv-newest/SETUP_FAILED (which the tests report as a
# failure, never a skip) and exits 0, so that the rest of the suite still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
venv=.venv-newest
stamp="$venv/.installed"
want=$(cat constraints-newest.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
mkdir -p "$venv"
log="$venv/setup.log"
rm -f "$stamp"
if { { [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"; } \
     && "$venv/bin/python" -m pip install --upgrade pip \
     && "$venv/bin/python" -m pip install -c constraints-newest.txt -e ".[dev,postgres]"; } >"$log" 2>&1; then
  echo "$want" >"$stamp"
  rm -f "$venv/SETUP_FAILED"
else
  tail -n 20 "$log" >"$venv/SETUP_FAILED"
  echo "warning: could not create $venv (newest MLflow, constraints-newest.txt); tests/test_newest_mlflow.py" \
       "will fail. Last lines of $log:" >&2
  tail -n 20 "$log" >&2
fi
