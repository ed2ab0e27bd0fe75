"""What the run step keeps about every source run once its chunk is planned, compactly (8-byte
hashes, syncer.core.compact_ids), and the membership views later steps read it through."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass, field

from syncer.core.compact_ids import IdSet
from syncer.core.snapshot import RunSnap
from syncer.plan.extra_runs import ExtraCandidate
from syncer.plan.runs import Options
from syncer.state.store import StateStore


@dataclass
class RunFacts:
    """What a pass keeps about every source run once its chunk is planned, and the few runs it keeps
    whole."""

    seen: IdSet = field(default_factory=IdSet)  # every source run read
    deleted: IdSet = field(default_factory=IdSet)  # source runs read that are deleted
    wanted: IdSet = field(default_factory=IdSet)  # source runs planned
    with_copy: IdSet = field(default_factory=IdSet)  # source runs with a live destination copy
    copied: IdSet = field(default_factory=IdSet)  # source runs that have or get a copy
    # parent in a later chunk: planned last
    deferred: dict[str, RunSnap] = field(default_factory=dict)
    # parents in an earlier chunk of runs planned since
    cross_parents: set[str] = field(default_factory=set)
    # their copies, by destination run id
    deferred_copies: dict[str, RunSnap] = field(default_factory=dict)
    extras: list[ExtraCandidate] = field(default_factory=list)
    # runs to create or update: last change (ms)
    pending_since: dict[str, int] = field(default_factory=dict)

    def settle(self, options: Options) -> None:
        """Take the destination-only runs Ray range units found in the experiments whose runs this
        pass does not read (`Options.settled_runs`), with the deleted sources they saw."""
        self.extras.extend(options.settled_extras)
        self.seen.update(options.settled_deleted)
        self.deleted.update(options.settled_deleted)

    def look_up_settled(
        self, options: Options, fetch: Callable[[list[str], set[str]], list]
    ) -> None:
        """Destination-only candidates naming a source run not read here may name a run of an
        experiment the Ray units settled (not read by this pass): those found there by id
        (`fetch(experiments, ids)`) count as read, as a pass reading them would have."""
        ids = {c.source_id for c in self.extras if c.source_id and c.source_id not in self.seen}
        if not options.settled_runs or not ids:
            return
        found = fetch(sorted(options.settled_runs), ids)
        kept = [r for r in found if options.deleted == "mirror" or not r.deleted]
        self.seen.update(r.run_id for r in kept)
        self.deleted.update(r.run_id for r in kept if r.deleted)

    def source_state(self, source_id: str) -> bool | None:
        """None: the source does not hold the run; else whether it is deleted there."""
        return (source_id in self.deleted) if source_id in self.seen else None


class Either:
    """`in` either container."""

    def __init__(self, *parts: Container[str]) -> None:
        self.parts = parts

    def __contains__(self, item: object) -> bool:
        return any(item in p for p in self.parts)


class CopiedBefore:
    """`in`: source runs the state store records as copied. A cycle reading changes only does not
    read the runs that did not change; later steps (model versions made from a run, logged models,
    traces) still need to know which of them have a copy. Each run is looked up once (later steps
    ask per metric point or trace)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self.known: dict[str, bool] = {}

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        if item not in self.known:
            self.known[item] = self.state.copied_dest_id("run", item) is not None
        return self.known[item]


class Planned:
    """Source runs of earlier chunks planned there (seen and not deferred)."""

    def __init__(self, facts: RunFacts) -> None:
        self.facts = facts

    def __contains__(self, item: object) -> bool:
        return item in self.facts.seen and item not in self.facts.deferred


def leaving(runs: dict[str, RunSnap], planned: Container[str] = ()) -> set[str]:
    """Runs whose parent, or an ancestor's parent, is neither among `runs` nor `planned`
    (earlier)."""
    out = {
        rid
        for rid, r in runs.items()
        if r.parent_id and r.parent_id not in runs and r.parent_id not in planned
    }
    grew = bool(out)
    while grew:
        more = {rid for rid, r in runs.items() if rid not in out and r.parent_id in out}
        out |= more
        grew = bool(more)
    return out
