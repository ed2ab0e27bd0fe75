#!/usr/bin/env bash
# One command: set up, seed a local SQLite MLflow store, migrate it to another, print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mlflow-syncer demo --dir demo-data
