"""The end-of-run summary: what was copied, skipped and failed, as numbers and a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from syncer.core.actions import Op
from syncer.engine.sync import SyncResult


@dataclass
class Summary:
    experiments_created: int = 0
    experiments_updated: int = 0
    runs_created: int = 0
    runs_updated: int = 0
    runs_deleted: int = 0
    models_created: int = 0
    model_versions_created: int = 0
    model_versions_updated: int = 0
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

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(result: SyncResult) -> Summary:
    """Count what a sync did."""
    s = Summary(seconds=round(result.seconds, 2))
    done = Counter()
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
    s.experiments_created = done[("experiment", Op.CREATE)]
    s.experiments_updated = done[("experiment", Op.UPDATE)]
    s.runs_created = done[("run", Op.CREATE)]
    s.runs_updated = done[("run", Op.UPDATE)]
    s.runs_deleted = done[("run", Op.DELETE)]
    s.models_created = done[("model", Op.CREATE)]
    s.model_versions_created = done[("model_version", Op.CREATE)]
    s.model_versions_updated = done[("model_version", Op.UPDATE)]
    for a in result.plan.actions:
        s.unchanged += a.op is Op.SAME
        s.conflicts += a.op is Op.CONFLICT
        s.failed += a.op is Op.ERROR
        s.extra_in_destination += a.op is Op.EXTRA
    return s


def print_summary(summary: Summary, console: Console | None = None) -> None:
    """Print the summary as a table."""
    console = console or Console()
    table = Table(title="mlflow-syncer summary", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("experiments created", summary.experiments_created),
        ("experiments updated", summary.experiments_updated),
        ("runs created", summary.runs_created),
        ("runs updated", summary.runs_updated),
        ("runs deleted", summary.runs_deleted),
        ("models created", summary.models_created),
        ("model versions created", summary.model_versions_created),
        ("model versions updated", summary.model_versions_updated),
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
