"""Start-time windows: one experiment's runs cut into pages `[lo, hi)` by `start_time`, which MLflow never
changes after create_run and which copies take from their source (syncer.scan.runs.iter_windows)."""

from __future__ import annotations

Window = tuple[int | None, int | None]  # runs with lo <= start_time < hi (None: unbounded on that side)


def window_filter(window: Window) -> str:
    """The search_runs filter selecting the runs of a start-time window ("" when unbounded on both sides)."""
    lo, hi = window
    parts = ([] if lo is None else [f"attributes.start_time >= {int(lo)}"]) + \
        ([] if hi is None else [f"attributes.start_time < {int(hi)}"])
    return " AND ".join(parts)
