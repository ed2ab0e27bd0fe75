"""What the diff report's header says: counts, the verdict, the copy totals, notes and the exit
code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncer.core.actions import Action
from syncer.core.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from syncer.report import human
from syncer.report.rows import OP_DIFFERS, PENDING_OPS, UNCOPIED, GroupStats, Row

COPY_TOTALS = ("metric_points", "artifact_files", "artifact_bytes")


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
    # standing limits, said once (`notes`): no difference
    notes: list[dict] = field(default_factory=list)

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
