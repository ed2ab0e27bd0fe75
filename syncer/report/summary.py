"""The end-of-run summary: what was copied, skipped and failed, as numbers and a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.table import Table

from syncer.core.actions import Op
from syncer.core.kinds import KINDS
from syncer.engine.sync import SyncResult

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
    seconds: float = 0.0

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
    s.done = {k.name: {op.value: done[(k.name, op)] for op in _DONE_OPS} for k in KINDS}
    for a in result.plan.actions:
        s.unchanged += a.op is Op.SAME
        s.conflicts += a.op is Op.CONFLICT
        s.failed += a.op is Op.ERROR
        s.extra_in_destination += a.op is Op.EXTRA
    return s


def _kind_rows(summary: Summary) -> list[tuple[str, int]]:
    """Created and updated for every kind; deleted where anything was."""
    return [(f"{k.plural} {_PAST[op]}", summary.count(k.name, op)) for k in KINDS for op in _DONE_OPS
            if op is not Op.DELETE or summary.count(k.name, op)]


def print_summary(summary: Summary, console: Console | None = None) -> None:
    """Print the summary as a table."""
    console = console or Console()
    table = Table(title="mlflow-syncer summary", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        *_kind_rows(summary),
        ("unchanged (skipped)", summary.unchanged),
        ("metric points copied", summary.metric_points),
        ("params copied", summary.params),
        ("artifact files copied", summary.artifact_files),
        ("artifact bytes copied", summary.artifact_bytes),
        ("conflicts", summary.conflicts),
        ("only in destination", summary.extra_in_destination),
        ("policy decisions (see diff)", summary.policy_decisions),
        ("failed", summary.failed),
        ("seconds", summary.seconds),
    ]
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
