"""Loaded at interpreter start-up when tests/killhook is on PYTHONPATH (see
tests.fixtures.cli.kill_at).

``MLFLOW_SYNCER_TEST_KILL_AT="op:N[:after]"`` makes the process SIGKILL itself just before (or just
after) the N-th time `op` is reported to syncer.core.hooks: an API operation name passed to
`syncer.backends.calls.call`, or ``state_record`` for a state store commit; ``op1|op2:N`` counts
calls of any of them (a file upload is `log_artifact`, `blob_upload`, `blob_copy` or
`stream_artifact` by the ends). The kill-and-resume tests stop a real migration at exact points.
``MLFLOW_SYNCER_TEST_KILL_SIGNAL=SIGTERM`` (or SIGINT) sends that signal instead, once: a graceful
stop.
"""

import os
import signal
import threading
from collections import Counter

_SPEC = os.environ.get("MLFLOW_SYNCER_TEST_KILL_AT", "")
_SIGNAL = getattr(signal, os.environ.get("MLFLOW_SYNCER_TEST_KILL_SIGNAL", "SIGKILL"))

if _SPEC:
    from syncer.core import hooks

    _names, _nth, *_rest = _SPEC.split(":")
    _ops = frozenset(_names.split("|"))
    _when = _rest[0] if _rest else "before"
    _counts: Counter = Counter()
    _lock = threading.Lock()

    def _kill_at(op: str, when: str) -> None:
        if op not in _ops or when != _when:
            return
        with _lock:
            _counts[_names] += 1
            hit = _counts[_names] == int(_nth)
        if hit:
            os.kill(os.getpid(), _SIGNAL)

    hooks.observe(_kill_at)
