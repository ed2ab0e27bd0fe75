"""What the process is waiting on right now: every API call and state-store statement in flight, and
when the last one finished.

The mirror service reads this to say which end a long cycle waits on (and since when), and to feed
the systemd watchdog only while work really moves. Plain data: the calls and the state store fill
it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Wait:
    """One call in flight: on what (`destination (http://...)`, `state store`), which operation,
    since when (epoch seconds)."""

    on: str
    op: str
    since: float

    def seconds(self, now: float | None = None) -> float:
        """How long this call has been waiting."""
        return max(0.0, (now or time.time()) - self.since)


_lock = threading.Lock()
_open: dict[int, Wait] = {}
_ids = itertools.count(1)
_last_done = [time.time()]


def begin(on: str, op: str) -> int:
    """Record a call that starts now; returns the token for `end`."""
    token = next(_ids)
    with _lock:
        _open[token] = Wait(on, op, time.time())
    return token


def end(token: int) -> None:
    """The call of `token` finished (well or not): the process moved."""
    with _lock:
        _open.pop(token, None)
        _last_done[0] = time.time()


def moved() -> None:
    """The process moved without finishing a call (an attempt failed and will be retried)."""
    with _lock:
        _last_done[0] = time.time()


def oldest() -> Wait | None:
    """The call waiting longest, or None when nothing is in flight."""
    with _lock:
        return min(_open.values(), key=lambda w: w.since, default=None)


def last_progress() -> float:
    """When a call last finished (epoch seconds; process start before the first)."""
    with _lock:
        return _last_done[0]


class waiting:  # used as a context manager, like contextlib's
    """`with waiting("state store", "commit"):` records the block as a call in flight."""

    def __init__(self, on: str, op: str) -> None:
        self.on, self.op = on, op
        self.token = 0

    def __enter__(self) -> None:
        self.token = begin(self.on, self.op)

    def __exit__(self, *_exc: object) -> None:
        end(self.token)
