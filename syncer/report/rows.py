"""The diff report's rows (one per planned object) and per-group stats, as plain data, and the ops
they count."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from syncer.core.actions import Op

OP_DIFFERS = "differs"  # a run that looks in sync but --deep found different content
PENDING_OPS = frozenset({Op.CREATE.value, Op.UPDATE.value, Op.DELETE.value})
BAD_OPS = frozenset({Op.CONFLICT.value, Op.ERROR.value})
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
