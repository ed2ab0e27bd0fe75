"""Observers of the engine's effects on the outside world: every endpoint call and every state
commit.

`syncer.backends.calls.call` reports each API operation (``op`` is its name, e.g. ``create_run``)
and the state store each commit (``state_record``), once ``before`` and once ``after``; nothing is
registered in production: the kill-and-resume tests register an observer from outside the package
(tests/killhook). Retries are reported as `RetryNotice`s: the progress bar shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Observer = Callable[[str, str], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Call `observer(op, when)` at every reported point from now on (`when` is "before" or
    "after")."""
    _observers.append(observer)


def unobserve(observer: Observer) -> None:
    """Stop calling an observer registered with `observe`."""
    _observers.remove(observer)


def reached(op: str, when: str = "before") -> None:
    """Report that `op` is about to happen (`when="before"`) or has happened (`"after"`)."""
    for observer in _observers:
        observer(op, when)


@dataclass(frozen=True)
class RetryNotice:
    """A call that failed transiently and is about to be tried again (what logs and the progress bar
    show)."""

    endpoint: str  # role and secret-free identity, e.g. "destination (http://host:5000)"
    op: str
    error: str  # the exception's class
    status: str  # the last status seen: "HTTP 503", "connection refused", ...
    attempt: int  # the attempt that just failed, from 1
    wait: float  # seconds until the next attempt


RetryObserver = Callable[[RetryNotice], None]
_retry_observers: list[RetryObserver] = []


def observe_retries(observer: RetryObserver) -> Callable[[], None]:
    """Call `observer(notice)` before every retry wait from now on; returns a function that stops
    it."""
    _retry_observers.append(observer)
    return lambda: _retry_observers.remove(observer) if observer in _retry_observers else None


def retrying(notice: RetryNotice) -> None:
    """Report a retry to every retry observer."""
    for observer in list(_retry_observers):
        observer(notice)
