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
    sys.exit(main(request["argv"]))  # atexit handlers run, as at the end of the real command


def serve() -> None:
    """Answer requests until stdin closes."""
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
