#!/usr/bin/env bash
# Create .venv-newest: mlflow-syncer with the newest MLflow 3.x (constraints-newest.txt) and the test tools, for
# tests/test_newest_mlflow.py and tests/test_mlflow2_sources.py (2.x-written stores into a newest server).
# Idempotent (skips pip when constraints-newest.txt and pyproject.toml are unchanged), quiet unless it fails.
# On failure it warns, leaves .venv-newest/SETUP_FAILED (which the tests report as a failure, never a skip)
# and exits 0, so that the rest of the suite still runs.
cd "$(dirname "$0")/.."
STAMP_FILES="constraints-newest.txt pyproject.toml" exec bash scripts/make_venv.sh .venv-newest \
  "tests/test_newest_mlflow.py (newest MLflow, constraints-newest.txt)" -- -c constraints-newest.txt -e ".[dev,postgres,server]"
