#!/usr/bin/env bash
# make_venv.sh VENV WHAT -- PIP_INSTALL_ARGS...: create VENV (a second test environment) and pip-install
# PIP_INSTALL_ARGS into it. Idempotent: skips pip while the files named in $STAMP_FILES are unchanged. Quiet
# unless it fails; on failure it warns, leaves VENV/SETUP_FAILED (which the tests report as a failure, never a
# skip) and exits 0, so that the rest of the suite still runs. WHAT names the tests that need VENV.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
venv=$1 what=$2
shift 3
stamp="$venv/.installed"
want=$(cat ${STAMP_FILES:?} | sha256sum | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
mkdir -p "$venv"
log="$venv/setup.log"
rm -f "$stamp"
if { { [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"; } \
     && "$venv/bin/python" -m pip install --upgrade pip \
     && "$venv/bin/python" -m pip install "$@"; } >"$log" 2>&1; then
  echo "$want" >"$stamp"
  rm -f "$venv/SETUP_FAILED"
else
  tail -n 20 "$log" >"$venv/SETUP_FAILED"
  echo "warning: could not create $venv; $what will fail. Last lines of $log:" >&2
  tail -n 20 "$log" >&2
fi
