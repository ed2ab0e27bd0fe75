"""Start-time windows: one experiment's runs cut into pages `[lo, hi)` by `start_time`, which MLflow
never changes after create_run and which copies take from their source
(syncer.scan.runs.iter_windows)."""

from __future__ import annotations

from collections.abc import Iterator

from syncer.core.snapshot import RunSnap

Window = tuple[
    int | None, int | None
]  # runs with lo <= start_time < hi (None: unbounded on that side)


def window_filter(window: Window) -> str:
    """The search_runs filter selecting the runs of a start-time window ("" when unbounded on both
    sides)."""
    lo, hi = window
    parts = ([] if lo is None else [f"attributes.start_time >= {int(lo)}"]) + (
        [] if hi is None else [f"attributes.start_time < {int(hi)}"]
    )
    return " AND ".join(parts)


class WindowTaker:
    """Hands out, window after window, the runs of one stream ordered by start time (a destination
    experiment's runs, read once): `take(hi)` returns the runs not yet taken that started before
    `hi` (None: every run left, those without a start time included: MLflow's stores sort them
    last)."""

    def __init__(self, runs: Iterator[RunSnap]) -> None:
        self._runs = runs
        self._next: RunSnap | None = None

    def take(self, hi: int | None) -> list[RunSnap]:
        """The runs of the next window `[previous hi, hi)`."""
        out: list[RunSnap] = []
        while True:
            run = self._next if self._next is not None else next(self._runs, None)
            self._next = None
            if run is None:
                return out
            if hi is not None and (run.start_time is None or run.start_time >= hi):
                self._next = run
                return out
            out.append(run)
