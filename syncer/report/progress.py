"""A rich progress bar shown only on a terminal, with transfer lines like rclone's.

`syncing ━━━━━━━━━━ 12/49 · 2.1 runs/s · 12.0 MiB at 1.1 MiB/s · failed 0 · 0:00:45 · run exp/r3 (+3
more)`: objects done of the plan's mutating actions, runs per second, bytes copied and their rate,
failures, time remaining, then the object in flight (the oldest still running, and how many others
are). While a call waits to be retried, the last part says so: `waiting for destination
(http://host): HTTP 503, retry in 8 s`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich import get_console
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from syncer.apply.units import Outcome
from syncer.core import hooks
from syncer.core.actions import Action, Plan
from syncer.report import human


def transfer_text(
    runs: int, copied_bytes: int, seconds: float, failed: int, compact: bool = False
) -> str:
    """The rates part of the line: '2.1 runs/s · 12.0 MiB at 1.1 MiB/s · failed 0' (`compact`, for a
    narrow terminal: no 'failed 0' while nothing failed)."""
    text = (
        f"{human.rate(runs, seconds, 'runs')} · {human.size(copied_bytes)} at "
        f"{human.byte_rate(copied_bytes, seconds)}"
    )
    return text if compact and not failed else f"{text} · failed {failed}"


def in_flight_text(labels: list[str]) -> str:
    """The object in flight: 'run exp/r3 (+3 more)'; '' when nothing is."""
    if not labels:
        return ""
    return labels[0] + (f" (+{len(labels) - 1} more)" if len(labels) > 1 else "")


class _Transfer(ProgressColumn):
    """Runs/s, bytes and bytes/s, failures (recomputed at every refresh, so rates fall while a run
    is slow)."""

    def __init__(self, compact: bool) -> None:
        super().__init__(table_column=Column(no_wrap=True))  # the object in flight gives way first
        self.compact = compact

    def render(self, task: Task) -> Text:
        f = task.fields
        return Text(
            transfer_text(f["runs"], f["bytes"], task.elapsed or 0.0, f["failed"], self.compact),
            no_wrap=True,
        )


def waiting_text(notice: hooks.RetryNotice, seconds_left: float) -> str:
    """'waiting for destination (http://host): HTTP 503, retry in 8 s'."""
    return (
        f"waiting for {notice.endpoint}: {notice.status}, retry in {max(0, round(seconds_left))} s"
    )


class _InFlight(ProgressColumn):
    """The object in flight, or the retry being waited for while its wait lasts."""

    def render(self, task: Task) -> Text:
        waiting = task.fields.get("waiting")
        if waiting is not None and waiting[1] > task.get_time():
            text = waiting_text(waiting[0], waiting[1] - task.get_time())
        else:
            text = in_flight_text(task.fields["flight"])
        return Text(text, overflow="ellipsis", no_wrap=True)


NARROW = 120  # columns: below, the bar is shorter, without its title, and 'failed 0' is left out


class _Dot(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text("·", style="dim")


class ProgressBar:
    """Counts applied actions against the plan's mutating actions; shows rates and the object in
    flight."""

    def __init__(
        self,
        enabled: bool,
        console: Console | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.enabled = enabled
        narrow = (console or get_console()).width < NARROW  # one line on an 80-column terminal too
        head = (
            [BarColumn(bar_width=10)]
            if narrow
            else ["[bold]{task.description}", BarColumn(bar_width=24)]
        )
        self.progress = (
            Progress(
                *head,
                MofNCompleteColumn(table_column=Column(no_wrap=True)),
                _Dot(),
                _Transfer(narrow),
                _Dot(),
                TimeRemainingColumn(table_column=Column(no_wrap=True)),
                _Dot(),
                _InFlight(),
                console=console,
                transient=False,
                **({"get_time": clock} if clock else {}),
            )
            if enabled
            else None
        )
        self.task = None
        self._flight: dict[tuple[str, str], str] = {}  # in start order
        self._counts = {"failed": 0, "runs": 0, "bytes": 0}
        self._lock = threading.Lock()  # workers report from their threads
        self._unobserve: Callable[[], None] = lambda: None

    def __enter__(self) -> ProgressBar:
        if self.progress:
            self.progress.start()
            self._unobserve = hooks.observe_retries(self.waiting)
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self._unobserve()
            self.progress.stop()

    def start(self, plan: Plan) -> None:
        """Size the bar to the plan's mutating actions."""
        if self.progress:
            self.task = self.progress.add_task(
                "syncing", total=plan.mutating_count, flight=[], waiting=None, **self._counts
            )

    def started(self, action: Action) -> None:
        """An action began: it is in flight until its outcome arrives."""
        with self._lock:
            self._flight[action.key] = f"{action.kind} {action.label}"
            self._show()

    def advance(self, outcome: Outcome) -> None:
        """An action finished: count it, its bytes and its failure."""
        with self._lock:
            self._flight.pop(outcome.action.key, None)
            self._counts["failed"] += not outcome.ok
            self._counts["runs"] += outcome.action.kind == "run"
            self._counts["bytes"] += outcome.stats.artifact_bytes
            self._show(advance=1)

    def waiting(self, notice: hooks.RetryNotice) -> None:
        """A call failed and waits to be retried: say so until the wait is over."""
        if self.progress and self.task is not None:
            with self._lock:
                deadline = self.progress.get_time() + notice.wait
                self.progress.update(self.task, waiting=(notice, deadline))

    def _show(self, advance: int = 0) -> None:
        if self.progress and self.task is not None:
            self.progress.update(
                self.task, advance=advance, flight=list(self._flight.values()), **self._counts
            )
