"""SIGINT and SIGTERM, alike in every command: set `STOP` (each unit in flight stops before its next
write, `Context.guard`), raise `Interrupted` in the main thread (the command unwinds, the lock is
released, the state store closed), then `main` prints one line and exits 130 (SIGINT) or 143
(SIGTERM).

The `mirror` service installs its own handlers while they run (a service's clean stop)."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Sequence

from syncer.core.errors import Interrupted
from syncer.core.exit_codes import EXIT_INTERRUPTED, EXIT_TERMINATED
from syncer.core.redact import redact

STOP = threading.Event()  # set by the first SIGINT or SIGTERM; commands hand it to the engine


def _on_signal(signum: int, _frame: object) -> None:
    STOP.set()
    raise Interrupted(signum)


def install() -> dict[int, object]:
    """Handle SIGINT and SIGTERM the same way (main thread only); the handlers replaced, for
    `restore`."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    STOP.clear()
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, _on_signal)
    return previous


def restore(previous: dict[int, object]) -> None:
    """Put back the handlers `install` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


def stopped(exc: KeyboardInterrupt, argv: Sequence[str] | None) -> int:
    """Print the one line of a stopped command; its exit code."""
    signum = getattr(exc, "signum", signal.SIGINT)
    name = signal.Signals(signum).name
    args = list(sys.argv[1:] if argv is None else argv)
    rerun = redact(shlex.join(["mlflow-syncer", *args]))
    print(
        f"mlflow-syncer: stopped by {name}; finished work is saved, run again to resume: {rerun}",
        file=sys.stderr,
    )
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED
