"""The end-of-run summary: what was copied, skipped and failed, as numbers and a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.table import Table

from syncer.core.actions import Op
from syncer.core.kinds import plural
from syncer.engine.sync import SyncResult
from syncer.kinds.registry import COPIED as KINDS
from syncer.plan.uncopied import by_kind_and_reason, uncopied_total
from syncer.report import human

_DONE_OPS = (Op.CREATE, Op.UPDATE, Op.DELETE)
_PAST = {Op.CREATE: "created", Op.UPDATE: "updated", Op.DELETE: "deleted"}


@dataclass
class Summary:
    """What one sync did: objects by kind and operation, what they carried, and what went wrong."""

    done: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> op -> objects done
    unchanged: int = 0
    metric_points: int = 0
    params: int = 0
    tags: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    failed: int = 0
    conflicts: int = 0
    extra_in_destination: int = 0
    policy_decisions: int = 0
    # source objects not copied (the destination cannot hold them, or they are never copied)
    uncopied: int = 0
    not_copied: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, objects, reason)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # the plan's sentences about the pass as a whole
    # incomplete copies set aside for fresh ones: why
    retired: list[str] = field(default_factory=list)

    def count(self, kind: str, op: Op) -> int:
        """How many objects of `kind` were `op`-ed (created, updated, deleted)."""
        return self.done.get(kind, {}).get(op.value, 0)

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(result: SyncResult) -> Summary:
    """Count what a sync did."""
    s = Summary(seconds=round(result.seconds, 2))
    done: Counter = Counter()
    for o in result.outcomes:
        if not o.ok:
            s.failed += 1
            continue
        done[(o.action.kind, o.action.op)] += 1
        s.policy_decisions += len(o.action.details.get("policy", []))
        s.metric_points += o.stats.metric_points
        s.params += o.stats.params
        s.tags += o.stats.tags
        s.artifact_files += o.stats.artifact_files
        s.artifact_bytes += o.stats.artifact_bytes
        s.retired += [f"{o.action.label}: {why}" for why in o.stats.retired]
    s.done = {k.name: {op.value: done[(k.name, op)] for op in _DONE_OPS} for k in KINDS}
    for a in result.plan.actions:
        s.unchanged += a.op is Op.SAME
        s.conflicts += a.op is Op.CONFLICT
        s.failed += a.op is Op.ERROR
        s.extra_in_destination += a.op is Op.EXTRA
    s.uncopied = uncopied_total(result.plan.actions)
    s.not_copied = by_kind_and_reason(result.plan.actions)
    s.notes = list(result.plan.notes)
    return s


_ALWAYS_SHOWN = frozenset({"experiment", "run"})


def _kind_rows(summary: Summary) -> list[tuple[str, int]]:
    """Created and updated for experiments and runs and for every kind something happened to;
    deleted where anything was."""
    shown = [
        k
        for k in KINDS
        if k.name in _ALWAYS_SHOWN or any(summary.count(k.name, op) for op in _DONE_OPS)
    ]
    return [
        (f"{k.plural} {_PAST[op]}", summary.count(k.name, op))
        for k in shown
        for op in _DONE_OPS
        if op is not Op.DELETE or summary.count(k.name, op)
    ]


def _cell(name: str, value: int | float, human_units: bool) -> str:
    """A count with thousands separators; bytes and seconds in human units when `human_units`."""
    if human_units and name == "artifact_bytes":
        return human.size(value)
    if human_units and name == "seconds":
        return human.duration(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_rows(summary: Summary, human_units: bool) -> list[tuple[str, str]]:
    """The summary table's rows as (what, shown value): exact integers, or sizes and durations for
    people."""
    rows: list[tuple[str, str, int | float]] = [
        *((what, "", n) for what, n in _kind_rows(summary)),
        ("unchanged (skipped)", "", summary.unchanged),
        ("metric points copied", "", summary.metric_points),
        ("params copied", "", summary.params),
        ("artifact files copied", "", summary.artifact_files),
        ("artifact bytes copied", "artifact_bytes", summary.artifact_bytes),
        ("conflicts", "", summary.conflicts),
        ("only in destination", "", summary.extra_in_destination),
        ("policy decisions (see diff)", "", summary.policy_decisions),
        *(
            ()
            if not summary.retired
            else (("run copies retired (a path written, never filled)", "", len(summary.retired)),)
        ),
        *(
            (f"{plural(kind)} not copied ({reason})", "", n)
            for kind, n, reason in summary.not_copied
        ),
        ("failed", "", summary.failed),
        ("seconds" if not human_units else "duration", "seconds", summary.seconds),
    ]
    return [(what, _cell(name, value, human_units)) for what, name, value in rows]


def print_summary(
    summary: Summary, console: Console | None = None, human_units: bool | None = None
) -> None:
    """Print the summary as a table: human units on a terminal (or when asked), exact numbers
    otherwise."""
    console = console or Console()
    human_units = console.is_terminal if human_units is None else human_units
    table = Table(title="mlflow-syncer summary", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in summary_rows(summary, human_units):
        table.add_row(name, value)
    console.print(table)
    for note in summary.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    for why in summary.retired:
        console.print(f"retired copy: {why}", highlight=False, markup=False)
