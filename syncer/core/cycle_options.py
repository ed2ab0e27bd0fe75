"""Pass options a kind sets per mirror cycle (such as whether the cycle reads only what changed).

Each kind that has some registers a function once, at import (`register`, as archivers do in
syncer.core.archive); syncer.engine.mirror_cycle hands every cycle's pass the options of all of
them, by `PassOptions` field name. Settings are syncer.config.Settings (typed Any: core imports no
configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (settings, cycle number from 1) -> pass options
CycleOptions = Callable[[Any, int], dict[str, Any]]
_REGISTERED: list[CycleOptions] = []


def register(options: CycleOptions) -> None:
    """Have every mirror cycle's pass take the options `options(settings, cycle)` returns."""
    _REGISTERED.append(options)


def for_cycle(settings: Any, cycle: int) -> dict[str, Any]:
    """The pass options every registered kind asks of cycle number `cycle` (counted from 1)."""
    merged: dict[str, Any] = {}
    for options in _REGISTERED:
        merged |= options(settings, cycle)
    return merged
