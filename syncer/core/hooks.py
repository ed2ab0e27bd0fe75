"""Test hook (does nothing unless the variable is set): kill this process at a chosen point.

``MLFLOW_SYNCER_TEST_KILL_AT="op:N[:after]"`` makes the process SIGKILL itself just before (or just
after) the N-th call of `op` (an API operation name passed to `errors.call`, or ``state_record`` for a
state store commit). The kill-and-resume tests use it to stop a real migration at exact points.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

_SPEC = os.environ.get("MLFLOW_SYNCER_TEST_KILL_AT", "")
_counts: Counter = Counter()
_lock = threading.Lock()


def reached(op: str, when: str = "before") -> None:
    """Count one pass of `op` at `when` and kill the process if it is the chosen point."""
    if not _SPEC:
        return
    name, nth, *rest = _SPEC.split(":")
    if name != op or (rest[0] if rest else "before") != when:
        return
    with _lock:
        _counts[(op, when)] += 1
        hit = _counts[(op, when)] == int(nth)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
