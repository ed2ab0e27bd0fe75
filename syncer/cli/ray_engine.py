"""`--engine ray` in the CLI: the units on Ray before the pass, their progress and their summary
lines. Ray is imported only here, only when asked for (syncer.engine.ray_units)."""

from __future__ import annotations

import importlib.util
import sys
import threading

from syncer.backends.endpoint import Endpoint
from syncer.config import Settings
from syncer.core.errors import FatalError
from syncer.engine import ray_budget, ray_units
from syncer.engine.sync import SyncResult


def check_ray() -> None:
    """Refuse `--engine ray` where Ray is not installed (before anything is contacted)."""
    if importlib.util.find_spec("ray") is None:
        raise FatalError("--engine ray needs Ray: pip install 'mlflow-syncer[ray]'")


class RayUnits:
    """Runs the units on Ray under the writer lock (`sync(before_pass=...)`), then shares the budget
    with the driver's own pass; keeps the totals for the summary."""

    def __init__(self, settings: Settings, stop: threading.Event | None, progress: bool) -> None:
        check_ray()
        self.settings, self.stop, self.progress = settings, stop, progress
        self.totals = None

    def __call__(self, src: Endpoint, dst: Endpoint) -> dict[str, object]:
        """Run the units; the full pass's options: the runs they settled (`settled_options`)."""
        self.totals = ray_units.run_units(self.settings, src, dst, self.stop, self._done)
        ray_budget.share(src, dst)
        return self.totals.settled_options()

    def _done(self, done: object, finished: int, units: int) -> None:
        if self.progress:
            print(
                f"unit {finished}/{units} {done.unit.label}: {done.created} created, "  # type: ignore[attr-defined]
                f"{done.updated} updated, {done.failed} failed",
                file=sys.stderr,
                flush=True,
            )

    def settle(self, result: SyncResult) -> None:
        """Weigh the units' failures against the full pass that followed (`RayTotals.settle`)."""
        if self.totals is not None:
            self.totals.settle(result)

    @property
    def failed(self) -> int:
        """Failed units (after Ray's retries) whose experiment the full pass could not bring in sync
        either. Objects that failed in a unit are counted by the full pass, which plans them again:
        once."""
        t = self.totals
        if t is None:
            return 0
        return len(t.failed_units if t.settled is None else t.unsettled_units)

    def lines(self) -> list[str]:
        """The summary of the units: what they copied together, then one line per failed unit."""
        t = self.totals
        if t is None:
            return []
        failed = t.total("failed") + t.total("conflicts")
        then = (
            f"; the full pass then found or made {t.settled} of those {failed} in sync"
            if failed and t.settled is not None
            else ""
        )
        lines = [
            f"ray: {t.units} units ({t.ranges} start-time ranges), {len(t.done)} done, "
            f"{len(t.failed_units)} failed; created {t.total('created')}, updated "
            f"{t.total('updated')}, "
            f"unchanged {t.total('unchanged')}, failed {t.total('failed')}, "
            f"conflicts {t.total('conflicts')}{then}{self._skipped()}"
        ]
        return lines + [f"! {unit}: {why}{self._after(unit)}" for unit, why in t.failed_units]

    def _skipped(self) -> str:
        t = self.totals
        if t is None or not t.ranges or t.settled_experiments is None:
            return ""
        ranged = len({u.experiment_id for u in t.planned if u.window is not None})
        return f"; ranged experiments settled by their units: {t.settled_experiments} of {ranged}"

    def _after(self, unit: str) -> str:
        t = self.totals
        if t is None or t.settled is None:
            return ""
        return (
            " (still failing in the full pass)"
            if unit in t.unsettled_units
            else " (its experiment in sync after the full pass)"
        )
