#!/usr/bin/env bash
# The mlflow-syncer benchmark (issue 8): bash bench/run.sh [S M H A] [--networks local,remote,limits] [--scale H=0.1]
# Installs what it needs (the project venv, the peer in its own venv, pyinstrument), starts its own servers
# and proxies on loopback, prints the results and writes them into docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/mlflow-syncer ] || bash scripts/setup.sh
.venv/bin/python -c "import pyinstrument" 2>/dev/null || .venv/bin/python -m pip install --quiet "pyinstrument>=4.6"
bash bench/setup_peer.sh || echo "bench: the peer (databricks-mlflow-export-import) could not be installed; skipping it" >&2
exec .venv/bin/python bench/main.py "$@"
