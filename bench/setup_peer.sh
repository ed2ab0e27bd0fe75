#!/usr/bin/env bash
# Install the peer (databricks-mlflow-export-import 1.2.1) into its own venv, bench/.peer-venv, so that it
# can never change the versions mlflow-syncer runs on. Idempotent; exits non-zero when it cannot install.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ -x .peer-venv/bin/export-experiment ]; then exit 0; fi
"$PY" -m venv .peer-venv
.peer-venv/bin/python -m pip install --quiet --upgrade pip
.peer-venv/bin/python -m pip install --quiet "databricks-mlflow-export-import==1.2.1"
