"""A process that imports the syncer (and MLflow) once, then forks one `mlflow-syncer` process per
request (tests.fixtures.cli.run_forked): the kill-point tests' processes without 3-4 s of CPU each
spent importing.

A request is one JSON line on stdin: {"argv", "env", "cwd", "stdout", "stderr"} (the last two are
files). The child takes that environment and folder, writes to those files, loads the kill-point
hook (sitecustomize.py beside this file) when MLFLOW_SYNCER_TEST_KILL_AT is set, as a process
started with tests/killhook on PYTHONPATH does, and runs `main(argv)` to its exit or to its
signal. The answer is one JSON line: {"returncode"}, negative for a signal, as subprocess gives
it. This process holds no thread when it forks.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import sys
import threading
from pathlib import Path

import syncer.cli.commands  # noqa: F401  (the engine, the backends and MLflow: what a fork reuses)
from syncer.cli.app import main

HOOK = Path(__file__).resolve().parent / "sitecustomize.py"


def child(request: dict) -> None:
    """Become the `mlflow-syncer` process of `request`; never returns."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    if os.environ.get("MLFLOW_SYNCER_TEST_KILL_AT"):
        runpy.run_path(str(HOOK))
    sys.argv = ["mlflow-syncer", *request["argv"]]
    try:
        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code
    end(code)


def end(code: object) -> None:
    """Exit as `sys.exit(code)` does (threads joined, atexit handlers run, output flushed), without
    tearing the interpreter down: that would touch, and so copy, every page shared with the fork
    server (about 1 s of CPU per process)."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter does first
    atexit._run_exitfuncs()
    gc.collect()  # what the command left unreferenced is closed (a SQLite store's WAL files go)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code & 0xFF)


def serve() -> None:
    """Answer requests until stdin closes."""
    gc.freeze()  # what the imports made stays out of the children's collections (no page copies)
    for line in sys.stdin:
        assert threading.active_count() == 1, "a thread would be lost in the fork"
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
