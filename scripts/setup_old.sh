#!/usr/bin/env bash
# Create .venv-mlflow2: the newest MLflow 2.x (constraints-mlflow2.txt) with its own client and server, for
# tests/test_mlflow2_sources.py (sources written by MLflow 2.x). Idempotent (skips pip when
# constraints-mlflow2.txt is unchanged), quiet unless it fails. On failure it warns, leaves
# .venv-mlflow2/SETUP_FAILED (which the tests report as a failure, never a skip) and exits 0, so that the
# rest of the suite still runs.
cd "$(dirname "$0")/.."
STAMP_FILES=constraints-mlflow2.txt exec bash scripts/make_venv.sh .venv-mlflow2 \
  "tests/test_mlflow2_sources.py (MLflow 2.x, constraints-mlflow2.txt)" -- -r constraints-mlflow2.txt
