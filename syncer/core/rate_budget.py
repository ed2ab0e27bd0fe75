"""The interface of a request budget shared across processes (implemented by
syncer.engine.ray_budget, used by syncer.backends.ratelimit; the engine wires one to the other)."""

from __future__ import annotations

from typing import Protocol


class SharedBudget(Protocol):
    """Token buckets shared by several processes."""

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take one token from bucket `key` (`rate` per second, at most `burst`): 0.0 when taken,
        else the seconds to wait before asking again."""
        ...
