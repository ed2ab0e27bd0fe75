"""Metric points as a multiset: which source points a destination history lacks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol, TypeVar

from syncer.core.snapshot import metric_value_key


class Point(Protocol):
    """A metric point (mlflow.entities.Metric or anything shaped like it)."""

    key: str
    value: float
    timestamp: int
    step: int


P = TypeVar("P", bound=Point)


def _point_key(m: Point) -> tuple:
    return (m.step, m.timestamp, metric_value_key(m.value))


def _sort_key(m: Point) -> tuple:
    return (m.step, m.timestamp, float("-inf") if m.value != m.value else m.value)


def missing_points(
    source: Iterable[P], present: Iterable[Point], collapse: bool = False
) -> list[P]:
    """Source points the destination lacks (a multiset difference), in (step, timestamp) order.

    `collapse`: the destination keeps one of several exact duplicate points (MLflow's SQL stores,
    where the point is the primary key; `Capabilities.collapses_duplicate_points`), so the source's
    duplicates count once: a file store's repeated point is not missing for ever."""
    have = Counter(_point_key(m) for m in present)
    out = []
    seen: set[tuple] = set()
    for m in sorted(source, key=_sort_key):
        k = _point_key(m)
        if collapse:
            if k in seen:
                continue
            seen.add(k)
        if have[k] > 0:
            have[k] -= 1
        else:
            out.append(m)
    return out
