"""The plan as plain data: actions with rclone-like sigils (`= + * - !`), produced by the planner,
applied by the executor, rendered by the reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from syncer.core.held_runs import HeldRuns
from syncer.core.spill import SpillList
from syncer.core.windows import Window


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    SAME = "same"
    EXTRA = "extra"
    DELETE = "delete"
    CONFLICT = "conflict"
    ERROR = "error"
    # Source objects the destination cannot hold (or that cannot be read back, e.g. webhook
    # secrets): listed and counted with the reason, never dropped quietly. A difference (exit 1),
    # not an error.
    UNCOPIED = "uncopied"


SIGIL = {
    Op.SAME: "=",
    Op.CREATE: "+",
    Op.UPDATE: "*",
    Op.EXTRA: "-",
    Op.DELETE: "-",
    Op.CONFLICT: "!",
    Op.ERROR: "!",
    Op.UNCOPIED: "!",
}


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
        """A `!` row for a kind the source cannot list at all (count unknown): reported, no
        difference by itself."""
        return self.op is Op.UNCOPIED and self.details.get("count") is None


@dataclass(frozen=True)
class Segment:
    """A stretch of the plan's actions planned together: one kind step, or one chunk of experiments
    of the run step (`experiments`: their source ids), so that applying can re-read exactly that
    chunk."""

    step: str | None  # the kind's name (syncer.kinds.registry); None: any kind
    count: int
    experiments: tuple[str, ...] | None = None
    # the start-time window [lo, hi) of one experiment's runs (None: every run)
    window: Window | None = None


def runs_named(actions: Iterable[Action]) -> tuple[set[str], set[str]]:
    """The source and destination ids the writes (creates, updates) among `actions` name: what
    applying them reads (deletions are applied apart, last)."""
    writes = [a for a in actions if a.op in (Op.CREATE, Op.UPDATE)]
    return (
        {a.source_id for a in writes if a.source_id},
        {a.dest_id for a in writes if a.dest_id},
    )


def _noted_later(action: Action) -> bool:
    """Uncopied rows gain notes after applying (archived counts): they stay the plan's own objects
    in memory."""
    return action.op is Op.UNCOPIED


@dataclass
class Plan:
    """The ordered actions of one sync, with the experiment-name mapping they were planned with.

    `actions` holds every action in plan order; beyond a few thousand they are spilled to a
    temporary file (syncer.core.spill), so a plan of a million runs costs disk, not memory. Counts
    per (kind, op) are kept as actions are added. `segments` say which actions were planned together
    (see `Segment`); `extra_groups` names the destination experiment of each run only in the
    destination, `pending_since` the last change (ms) of each source run to create or update (mirror
    replication lag), `notes` what every report says once, `held` the first chunks' runs kept for
    applying.
    """

    actions: SpillList
    dest_names: dict[str, str]
    segments: list[Segment] = field(default_factory=list)
    extra_groups: dict[str, str] = field(default_factory=dict)
    pending_since: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(
        default_factory=list
    )  # sentences about the pass as a whole (what a source holds)
    held: HeldRuns = field(default_factory=HeldRuns, repr=False)
    _counts: Counter = field(default_factory=Counter, repr=False, init=False)
    _differences: int = field(default=0, repr=False, init=False)

    def __post_init__(self) -> None:
        given = self.actions
        self.actions = SpillList(live=_noted_later)
        self._counts, self._differences, self.segments = (
            Counter(),
            0,
            [],
        )  # a copy (`replace`) is one segment
        self.add(given)

    def add(
        self,
        actions: Iterable[Action],
        step: str | None = None,
        experiments: tuple[str, ...] | None = None,
        window: Window | None = None,
    ) -> None:
        """Append actions (one segment), counting them."""
        count = 0
        for a in actions:
            self.actions.append(a)
            self._counts[(a.kind, a.op.value)] += 1
            self._differences += not (a.op is Op.SAME or a.unlisted)
            count += 1
        if count or experiments:
            self.segments.append(Segment(step, count, experiments, window))

    def counts(self) -> Counter:
        return Counter(self._counts)

    def mutating(self) -> list[Action]:
        return [a for a in self.actions if a.mutates]

    @property
    def mutating_count(self) -> int:
        """How many actions applying the plan would carry out."""
        return sum(n for (_k, op), n in self._counts.items() if Op(op) in MUTATING)

    @property
    def has_errors(self) -> bool:
        """Whether any action is a conflict or an error."""
        return any(
            n for (_k, op), n in self._counts.items() if op in (Op.CONFLICT.value, Op.ERROR.value)
        )

    @property
    def in_sync(self) -> bool:
        """Nothing to do and nothing left uncopied (kinds the source cannot list are no
        difference)."""
        return self._differences == 0
