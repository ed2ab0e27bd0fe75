"""The plan as plain data: actions with rclone-like sigils (`= + * - !`), produced by the planner, applied by the
executor, rendered by the reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    SAME = "same"
    EXTRA = "extra"
    DELETE = "delete"
    CONFLICT = "conflict"
    ERROR = "error"
    # Source objects the destination cannot hold (or that cannot be read back, e.g. webhook secrets): listed
    # and counted with the reason, never dropped quietly. A difference (exit 1), not an error.
    UNCOPIED = "uncopied"


SIGIL = {Op.SAME: "=", Op.CREATE: "+", Op.UPDATE: "*", Op.EXTRA: "-", Op.DELETE: "-",
         Op.CONFLICT: "!", Op.ERROR: "!", Op.UNCOPIED: "!"}


MUTATING = frozenset({Op.CREATE, Op.UPDATE, Op.DELETE})


@dataclass(frozen=True)
class Action:
    """One thing the planner found: what it is, what would be done, and why."""

    kind: str
    op: Op
    label: str
    source_id: str | None = None
    dest_id: str | None = None
    experiment: str | None = None
    depth: int = 0
    fingerprint: str | None = None
    details: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.source_id or f"dest:{self.dest_id}")

    @property
    def sigil(self) -> str:
        return SIGIL[self.op]

    @property
    def mutates(self) -> bool:
        return self.op in MUTATING

    @property
    def unlisted(self) -> bool:
        """A `!` row for a kind the source cannot list at all (count unknown): reported, no difference by itself."""
        return self.op is Op.UNCOPIED and self.details.get("count") is None


@dataclass
class Plan:
    """The ordered actions of one sync, with the experiment-name mapping they were planned with."""

    actions: list[Action]
    dest_names: dict[str, str]

    def counts(self) -> Counter:
        return Counter((a.kind, a.op.value) for a in self.actions)

    def mutating(self) -> list[Action]:
        return [a for a in self.actions if a.mutates]

    @property
    def in_sync(self) -> bool:
        """Nothing to do and nothing left uncopied (kinds the source cannot list are no difference)."""
        return all(a.op is Op.SAME or a.unlisted for a in self.actions)
