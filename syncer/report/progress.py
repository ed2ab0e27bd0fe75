"""A rich progress bar with counts and ETA, shown only on a terminal."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from syncer.apply.units import Outcome
from syncer.core.actions import Plan


class ProgressBar:
    """Counts applied actions against the plan's mutating actions."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]}"), TimeRemainingColumn(), transient=False,
        ) if enabled else None
        self.task = None

    def __enter__(self) -> ProgressBar:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.progress:
            self.progress.stop()

    def start(self, plan: Plan) -> None:
        if self.progress:
            self.task = self.progress.add_task("syncing", total=len(plan.mutating()), failed=0)

    def advance(self, outcome: Outcome) -> None:
        if self.progress and self.task is not None:
            task = self.progress.tasks[self.task]
            failed = task.fields["failed"] + (0 if outcome.ok else 1)
            self.progress.update(self.task, advance=1, failed=failed)
