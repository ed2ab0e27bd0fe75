"""Which kinds a mirror cycle reads incrementally (only what changed since their cursors).

Each kind that can registers a function once, at import (`register`, as archivers do in
syncer.core.archive); syncer.engine.mirror_cycle hands every cycle's pass `for_cycle`'s options.
Settings are syncer.config.Settings (typed Any: core imports no configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# (settings, cycle number from 1) -> whether this cycle reads the kind incrementally
Incremental = Callable[[Any, int], bool]
_REGISTERED: dict[str, Incremental] = {}


def register(kind: str, incremental: Incremental) -> None:
    """Have every mirror cycle ask `incremental(settings, cycle)` whether it reads `kind` only
    from its cursors."""
    _REGISTERED[kind] = incremental


def for_cycle(settings: Any, cycle: int) -> dict[str, Any]:
    """The pass options of cycle number `cycle` (counted from 1): the kinds it reads
    incrementally, as `PassOptions.incremental`."""
    return {"incremental": frozenset(k for k, f in _REGISTERED.items() if f(settings, cycle))}
