"""The diff report model shared by every format: a planned sync with its inspection, giving rows
(syncer.report.rows) and a summary (syncer.report.diff_summary).

Rows are produced lazily from the plan so that renderers can stream them. Any Action kind renders
generically from its `details` (models, model versions and aliases included once the planner emits
them). See docs/REPORTS.md for the JSON schema built from this model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from syncer.config import Settings
from syncer.core.actions import Action, Plan
from syncer.engine.deep_compare import Inspection, inspect_plan
from syncer.engine.ray_inspect import RayInspect
from syncer.engine.sync import SyncResult, sync
from syncer.report.diff_summary import Summary, exit_code, notes, pass_note
from syncer.report.rows import OP_DIFFERS, UNCOPIED, GroupStats, Row

# What renderers, `diff` and the tests take from here (the model's parts live in rows and
# diff_summary).
__all__ = [
    "SCHEMA_VERSION",
    "SUMMARY_THRESHOLD",
    "UNCOPIED",
    "GroupStats",
    "Report",
    "Row",
    "Summary",
    "build",
    "exit_code",
    "merge",
]

SCHEMA_VERSION = 2  # 2: uncounted copy totals are null with a reason (docs/REPORTS.md)
SUMMARY_THRESHOLD = 5000  # above this many objects, HTML and Markdown summarise per experiment


@dataclass
class Report:
    """A planned sync (dry run) with the inspection's details: everything a renderer needs."""

    result: SyncResult
    inspection: Inspection

    @property
    def source(self) -> str | None:
        return self.result.src.identity if self.result.src else None

    @property
    def destination(self) -> str | None:
        return self.result.dst.identity if self.result.dst else None

    def _group(self, a: Action) -> str:
        plan, dst = self.result.plan, self.result.dst
        if a.experiment and a.experiment in plan.dest_names:
            return plan.dest_names[a.experiment]
        if a.kind == "run" and a.dest_id in plan.extra_groups:
            return plan.extra_groups[a.dest_id]
        if a.kind == "run" and dst is not None and a.dest_id in dst.runs:
            exp = dst.experiments.get(dst.runs[a.dest_id].experiment_id)
            return exp.name if exp else "?"
        return f"({a.kind}s)"

    def row(self, a: Action) -> Row:
        """The report row of one planned action, with the inspection's details merged in."""
        details = dict(a.details)
        details.update(self.inspection.details.get(a.key, {}))
        sigil, op = a.sigil, a.op.value
        if a.key in self.inspection.differs:
            sigil, op = "*", OP_DIFFERS
        if a.key in self.inspection.errors:
            sigil, details["inspect_error"] = "!", self.inspection.errors[a.key]
        return Row(sigil, a.kind, op, a.label, self._group(a), a.source_id, a.dest_id, details)

    def rows(self, show_same: bool = True) -> Iterator[Row]:
        """The report's rows; a kind the source cannot list is a note (`notes`), not a row."""
        for a in self.result.plan.actions:
            if a.unlisted:
                continue
            row = self.row(a)
            if show_same or row.sigil != "=":
                yield row

    def summary(self) -> Summary:
        """Counts by kind and op, per-experiment stats and what a sync would copy (one pass, no rows
        kept)."""
        counts = self.result.plan.counts()
        s = Summary(
            deep=self.inspection.deep,
            total=sum(n for (_k, op), n in counts.items() if op != UNCOPIED),
        )
        groups: dict[str, GroupStats] = defaultdict(lambda: GroupStats(""))
        limits: list[Action] = []
        for a in self.result.plan.actions:
            if a.unlisted:
                limits.append(a)
                continue
            row = self.row(a)
            g = groups[row.group]
            g.name = row.group
            if row.op == UNCOPIED:
                s.add_uncopied(row)
                g.counts[row.op] += row.details.get("count") or 0
                continue
            s.counts[(row.kind, row.op)] += 1
            s.sigils[row.sigil] += 1
            s.kind_sigils[(row.kind, row.sigil)] += 1
            g.counts[row.op] += 1
        s.groups = sorted(groups.values(), key=lambda g: g.name)
        s.notes = [pass_note(text) for text in self.result.plan.notes] + notes(limits)
        i = self.inspection
        s.metric_points, s.artifact_files, s.artifact_bytes = (
            i.metric_points,
            i.artifact_files,
            i.artifact_bytes,
        )
        s.uncounted_runs = i.uncounted_runs
        return s


def build(settings: Settings, config_path: str | None = None, deep: bool = False) -> Report:
    """Plan a sync without writing anything (read-only state store) and inspect what differs; with
    `--engine ray`, the chunks' per-run reads run as Ray tasks (syncer.engine.ray_inspect)."""
    workers = min(settings.workers, 8)
    total = Inspection(deep=deep)
    offload = _offload(settings, config_path, deep, workers)

    def inspector(plan: Plan, src, dst, src_snap, dst_snap, state) -> None:
        if offload is not None and offload.wants(plan):
            for part in offload.submit(plan, src_snap, dst_snap):
                merge(total, part)
            return
        merge(
            total,
            inspect_plan(plan, src, dst, src_snap, dst_snap, state, deep=deep, workers=workers),
        )

    result = sync(
        settings,
        dry_run=True,
        config_path=config_path,
        inspector=inspector,
        strict_filters=True,
        before_pass=offload.start if offload is not None else None,
    )
    for part in offload.finish() if offload is not None else ():
        merge(total, part)
    return Report(result, total)


def _offload(
    settings: Settings, config_path: str | None, deep: bool, workers: int
) -> RayInspect | None:
    """`--engine ray`: the chunks' inspections as Ray tasks (Ray imported only then)."""
    if settings.scale_out.engine != "ray":
        return None
    return RayInspect(settings, config_path, deep, workers)


def merge(total: Inspection, part: Inspection) -> None:
    """Add one chunk's inspection to the pass's."""
    total.details.update(part.details)
    total.differs |= part.differs
    total.errors.update(part.errors)
    total.metric_points += part.metric_points
    total.artifact_files += part.artifact_files
    total.artifact_bytes += part.artifact_bytes
    total.uncounted_runs += part.uncounted_runs
