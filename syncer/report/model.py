"""The diff report model shared by every format: rows (one per planned object) and a summary.

Rows are produced lazily from the plan so that renderers can stream them. Any Action kind renders
generically from its `details` (models, model versions and aliases included once the planner emits
them). See docs/REPORTS.md for the JSON schema built from this model.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from syncer.config import Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from syncer.engine.deep_compare import Inspection, inspect_plan
from syncer.engine.ray_inspect import RayInspect
from syncer.engine.sync import SyncResult, sync
from syncer.report import human

SCHEMA_VERSION = 2  # 2: uncounted copy totals are null with a reason (docs/REPORTS.md)
SUMMARY_THRESHOLD = 5000  # above this many objects, HTML and Markdown summarise per experiment
OP_DIFFERS = "differs"  # a run that looks in sync but --deep found different content
PENDING_OPS = frozenset({Op.CREATE.value, Op.UPDATE.value, Op.DELETE.value})
BAD_OPS = frozenset({Op.CONFLICT.value, Op.ERROR.value})
COPY_TOTALS = ("metric_points", "artifact_files", "artifact_bytes")
UNCOPIED = Op.UNCOPIED.value


@dataclass
class Row:
    """One object of the report, as plain data."""

    sigil: str
    kind: str
    op: str
    label: str
    group: str
    source_id: str | None
    dest_id: str | None
    details: dict

    def as_dict(self) -> dict:
        return {
            "sigil": self.sigil,
            "kind": self.kind,
            "op": self.op,
            "label": self.label,
            "group": self.group,
            "source_id": self.source_id,
            "dest_id": self.dest_id,
            "details": self.details,
        }


@dataclass
class GroupStats:
    """Per experiment (or per object kind outside experiments): how much is in sync."""

    name: str
    counts: Counter = field(default_factory=Counter)

    @property
    def in_sync(self) -> int:
        return self.counts["same"]

    @property
    def pending(self) -> int:
        return sum(self.counts[op] for op in PENDING_OPS) + self.counts[OP_DIFFERS]

    @property
    def extra(self) -> int:
        return self.counts[Op.EXTRA.value]

    @property
    def errors(self) -> int:
        return sum(self.counts[op] for op in BAD_OPS)

    @property
    def uncopied(self) -> int:
        """Source objects of this group that are not copied (the counts of its `!` uncopied
        rows)."""
        return self.counts[UNCOPIED]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "in_sync": self.in_sync,
            "pending": self.pending,
            "extra": self.extra,
            "errors": self.errors,
            "uncopied": self.uncopied,
        }


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


@dataclass
class Summary:
    """What the report's header says.

    `total` counts the objects compared one by one; an uncopied row stands for `count` source
    objects and is counted in `uncopied` (the report entries) and `uncopied_objects` instead.
    """

    deep: bool
    total: int
    counts: Counter = field(default_factory=Counter)
    sigils: Counter = field(default_factory=Counter)
    kind_sigils: Counter = field(default_factory=Counter)
    kind_uncopied: Counter = field(default_factory=Counter)
    groups: list[GroupStats] = field(default_factory=list)
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    uncounted_runs: int = 0
    uncopied: list[dict] = field(default_factory=list)
    uncopied_objects: int = 0
    notes: list[dict] = field(
        default_factory=list
    )  # standing limits, said once (`notes`): no difference

    def add_uncopied(self, row: Row) -> None:
        """Count one uncopied row: its objects by kind, and its entry (kind, count, reason,
        group)."""
        count = row.details.get("count")
        self.uncopied.append(
            {
                "kind": row.kind,
                "count": count,
                "reason": row.details.get("reason", ""),
                "group": row.details.get("group"),
            }
        )
        if count:
            self.counts[(row.kind, UNCOPIED)] += count
            self.kind_uncopied[row.kind] += count
            self.uncopied_objects += count

    @property
    def to_apply(self) -> int:
        return sum(n for (_k, op), n in self.counts.items() if op in PENDING_OPS)

    @property
    def errors(self) -> int:
        return self.sigils["!"]

    @property
    def differs(self) -> int:
        """Objects that look in sync but where --deep found other content (a sync leaves them
        alone)."""
        return sum(n for (_k, op), n in self.counts.items() if op == OP_DIFFERS)

    def verdict(self) -> str:
        """One line: in sync, or what is pending (uncopied source objects included)."""
        if self.in_sync:
            n = len(self.notes)
            return "in sync" + (f" ({n} note{'s' if n > 1 else ''})" if n else "")
        parts = [f"{self.to_apply} actions to apply"]
        if self.uncopied_objects:
            parts.append(f"{self.uncopied_objects} source objects not copied")
        if self.differs:
            parts.append(f"{self.differs} differ but a sync leaves them alone")
        if self.sigils["-"]:
            parts.append(f"{self.sigils['-']} only in the destination")
        if self.errors:
            parts.append(f"{self.errors} errors")
        return ", ".join(parts)

    @property
    def in_sync(self) -> bool:
        """Every object compared is `=` and no source object is left uncopied."""
        return self.total == self.sigils["="] and not self.uncopied_objects

    @property
    def exact(self) -> bool:
        """True when the copy totals are exact (nothing left uncounted)."""
        return self.uncounted_runs == 0

    def kinds(self) -> list[str]:
        return sorted({k for k, _ in self.counts})

    def copy_note(self) -> str:
        """An honest sentence about the copy totals."""
        if self.exact:
            return "exact"
        return (
            f"points, files and bytes of {self.uncounted_runs} run(s) to create are not counted "
            f"without "
            "--deep"
        )

    def copy_total(self, name: str) -> int | None:
        """A copy total (`metric_points`, `artifact_files`, `artifact_bytes`); None when not fully
        counted."""
        return getattr(self, name) if self.exact else None

    def shown(self, name: str) -> str:
        """A copy total for people: the figure, 'at least N' when partly counted, or 'not
        counted'."""
        value: int = getattr(self, name)
        figure = human.size(value) if name == "artifact_bytes" else f"{value:,}"
        if self.exact:
            return figure
        return f"at least {figure}" if value else "not counted"

    def copy_line(self) -> str:
        """What a sync would copy, in one line that never shows an uncounted total as 0."""
        return (
            f"metric points: {self.shown('metric_points')}; artifact files: "
            f"{self.shown('artifact_files')}; "
            f"artifact bytes: {self.shown('artifact_bytes')} ({self.copy_note()})"
        )

    def _to_copy(self) -> dict:
        counted = {n: getattr(self, n) for n in COPY_TOTALS}
        return {
            **{n: self.copy_total(n) for n in COPY_TOTALS},
            "exact": self.exact,
            "uncounted_runs": self.uncounted_runs,
            "counted": counted,
            "reason": None if self.exact else self.copy_note(),
            "note": self.copy_note(),
        }

    def as_dict(self) -> dict:
        by_kind: dict[str, dict[str, int]] = {}
        for (kind, op), n in sorted(self.counts.items()):
            by_kind.setdefault(kind, {})[op] = n
        return {
            "in_sync": self.in_sync,
            "objects": self.total,
            "to_apply": self.to_apply,
            "errors": self.errors,
            "by_sigil": {s: self.sigils[s] for s in "=+*-!"},
            "by_kind": by_kind,
            "uncopied_objects": self.uncopied_objects,
            "uncopied": self.uncopied,
            "notes": self.notes,
            "to_copy": self._to_copy(),
            "deep": self.deep,
        }


def pass_note(text: str) -> dict:
    """A sentence about the pass as a whole (`Plan.notes`: what the source holds, where files go) as
    a note."""
    return {"kind": None, "note": text, "group": None}


def notes(actions: Iterable[Action]) -> list[dict]:
    """The standing limits of a pass (kinds the source cannot list), once each: {kind, note, group}.

    Said once in a report's "notes" section, never as a `!` row: they are no difference and leave
    the exit code alone, so that every `!` row is one that counts (docs/EXIT_CODES.md)."""
    seen: dict[tuple, dict] = {}
    for a in actions:
        if a.unlisted:
            d = a.details
            note = {"kind": a.kind, "note": d.get("reason", ""), "group": d.get("group")}
            seen.setdefault(tuple(note.values()), note)
    return list(seen.values())


def exit_code(summary: Summary) -> int:
    """0 in sync, 1 differences found (uncopied source objects too), 2 errors (conflicts and errors
    marked `!`)."""
    if summary.errors:
        return EXIT_ERROR
    return EXIT_OK if summary.in_sync else EXIT_PARTIAL


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
