"""Observers of the engine's effects on the outside world: every endpoint call and every state commit.

`syncer.backends.calls.call` reports each API operation (``op`` is its name, e.g. ``create_run``) and the
state store each commit (``state_record``), once ``before`` and once ``after``. Nothing is registered in
production. The kill-and-resume tests register an observer from outside the package (tests/killhook).
"""

from __future__ import annotations

from collections.abc import Callable

Observer = Callable[[str, str], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> None:
    """Call `observer(op, when)` at every reported point from now on (`when` is "before" or "after")."""
    _observers.append(observer)


def reached(op: str, when: str = "before") -> None:
    """Report that `op` is about to happen (`when="before"`) or has happened (`"after"`)."""
    for observer in _observers:
        observer(op, when)
