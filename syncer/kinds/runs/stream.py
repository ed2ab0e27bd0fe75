"""The run step, streamed a chunk of experiments at a time, so that memory follows the chunk, not
the source.

For each chunk (experiments read together, at most `CHUNK_RUNS` runs; an experiment above that is
cut into start-time windows of about `CHUNK_RUNS` runs when both ends can filter on start times:
scan.runs.iter_chunks) both sides' runs are read (the destination's of a window: its copies keep the
source's start times), planned by the pure planner and handed to `out.emit` (verify, inspection, the
plan's spill), then dropped. What later steps need is kept compactly (`RunFacts`): which source runs
exist, are planned, have a copy, or have or get a copy (`Known.copied_runs`), all as 8-byte hashes
(syncer.core.compact_ids). Kept whole: source runs linking prompt versions and their copies
(syncer.kinds.prompts.plan), and runs whose parent lies in a chunk not read yet (with their copies),
planned after every chunk with the global facts so that nested-run links across chunks stay exact; a
run whose parent was planned in an earlier chunk is planned in its own chunk, its copy's parent read
by id. Destination-only runs are decided at the end, once every source run was seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from itertools import chain

from mlflow.exceptions import MlflowException

from syncer.backends.classify import denied, describe
from syncer.core.actions import Action, Op
from syncer.core.compact_ids import IdSet
from syncer.core.snapshot import TAG_SOURCE_RUN_ID, RunSnap, Snapshot, retired
from syncer.core.windows import Window, WindowTaker
from syncer.kinds.prompts.snapshot import LINKED_PROMPTS
from syncer.plan import runs as run_planner
from syncer.scan import runs as run_scanner
from syncer.state.store import StateStore

CHUNK_RUNS = 5_000
WINDOW_RUNS = (
    1_000  # an experiment above CHUNK_RUNS is read in start-time windows of about this many runs
)
RUNS_LOOKBACK_MS = (
    10 * 60 * 1000
)  # a change-only cycle's margin: clocks of training clients, runs ending mid-cycle
DEFERRED: tuple[str, ...] = ()  # the experiments of the segment of runs planned after every chunk


@dataclass
class RunFacts:
    """What a pass keeps about every source run once its chunk is planned, and the few runs it keeps
    whole."""

    seen: IdSet = field(default_factory=IdSet)  # every source run read
    deleted: IdSet = field(default_factory=IdSet)  # source runs read that are deleted
    wanted: IdSet = field(default_factory=IdSet)  # source runs planned
    with_copy: IdSet = field(default_factory=IdSet)  # source runs with a live destination copy
    copied: IdSet = field(default_factory=IdSet)  # source runs that have or get a copy
    deferred: dict[str, RunSnap] = field(
        default_factory=dict
    )  # parent in a later chunk: planned last
    cross_parents: set[str] = field(
        default_factory=set
    )  # parents in an earlier chunk of runs planned since
    deferred_copies: dict[str, RunSnap] = field(
        default_factory=dict
    )  # their copies, by destination run id
    extras: list[run_planner.ExtraCandidate] = field(default_factory=list)
    pending_since: dict[str, int] = field(
        default_factory=dict
    )  # runs to create or update: last change (ms)

    def source_state(self, source_id: str) -> bool | None:
        """None: the source does not hold the run; else whether it is deleted there."""
        return (source_id in self.deleted) if source_id in self.seen else None


class _Either:
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


Emit = Callable[..., None]  # (actions, chunk experiments or None, src, dst, window=None)
Read = Callable[
    [str, Callable[[], object]], object
]  # (side, read) -> what read returned, errors made fatal


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


class _Planned:
    """Source runs of earlier chunks planned there (seen and not deferred)."""

    def __init__(self, facts: RunFacts) -> None:
        self.facts = facts

    def __contains__(self, item: object) -> bool:
        return item in self.facts.seen and item not in self.facts.deferred


Chunk = tuple[list[str], Window | None, list[RunSnap]]


def _each(read: Read, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The source's chunks, each read through `read` (a failed read names the side)."""
    while True:
        chunk = read("source", lambda: next(chunks, None))
        if chunk is None:
            return
        yield chunk


@dataclass
class RunStream:
    """Plans the runs of one pass chunk by chunk (see the module docstring)."""

    job: object  # syncer.kinds.runs.kind.RunInput
    read: Read
    emit: Emit
    facts: RunFacts = field(default_factory=RunFacts)
    _dest_taken: set[str] = field(default_factory=set)
    _window_dest: list[str] = field(
        default_factory=list
    )  # the destination experiment of the windows being read
    _taker: WindowTaker = field(default_factory=lambda: WindowTaker(iter(())))  # its runs, by start

    def copied_runs(self) -> IdSet | _Either:
        """The source runs that have or get a copy: those this pass planned, and in a cycle reading
        changes only also those the state store records as copied."""
        if self.job.options.runs_since is None or self.job.state is None:
            return self.facts.copied
        return _Either(self.facts.copied, CopiedBefore(self.job.state))

    def run(self) -> None:
        """Read, plan and emit every chunk, then the deferred runs and the destination-only runs."""
        job = self.job
        job.src_snap.run_ids = self.facts.seen
        since = job.options.runs_since
        deleted = job.settings.deleted == "mirror"
        dest_by_name = {e.name: e.experiment_id for e in job.dst_snap.experiments.values()}
        whole = self._read_whole(dest_by_name)
        read_whole = set(whole)
        windows = WINDOW_RUNS if job.src.caps.run_windows and job.dst.caps.run_windows else None
        chunks = chain(
            self._ranged(deleted)
            if job.options.run_window is not None
            else run_scanner.iter_chunks(
                job.src, whole, deleted, CHUNK_RUNS, windows, self._refused
            ),
            (
                (e, None, rs)
                for e, rs in run_scanner.changed_runs(
                    job.src,
                    [e for e in job.src_snap.experiments if e not in whole],
                    since,
                    deleted,
                    self._refused,
                )
            )
            if since is not None
            else (),
        )
        for exp_ids, window, runs in _each(self.read, chunks):
            dest_ids = self._dest_ids(exp_ids, window, dest_by_name)
            changed = exp_ids[0] not in read_whole
            dest_runs = self.read(
                "destination",
                lambda d=dest_ids, r=runs, w=window, c=changed: (
                    self._dest_changed(d, r, since) if c else self._dest_runs(d, w, r)
                ),
            )
            if changed:
                runs = runs + self._revisit(exp_ids, runs, dest_runs)
            src = Snapshot(
                job.src.identity,
                experiments=job.src_snap.experiments,
                runs={r.run_id: r for r in runs},
            )
            dst = Snapshot(
                job.dst.identity,
                experiments=job.dst_snap.experiments,
                runs={r.run_id: r for r in dest_runs},
            )
            self._defer(src, dst)
            self._plan(
                src,
                dst,
                tuple(exp_ids),
                to_source=self._outside_parents(src, dst, dest_ids),
                window=window,
            )
            self._retain(src, dst)
        self._plan_deferred()
        # a cycle reading changes only cannot tell a destination-only run from an unread one; a
        # range unit sees one range: destination-only runs are the full pass's
        if since is None and job.options.run_window is None:
            self._plan_extras()

    def _ranged(self, deleted: bool) -> Iterator[Chunk]:
        """A range unit's chunks (syncer.engine.ray_units): its experiment's runs started within its
        range, read in start-time order and cut into windows of about WINDOW_RUNS runs. A range the
        source refuses to show (HTTP 403) fails its experiment (`_refused`), as on one machine."""
        job = self.job
        (eid,) = job.options.experiment_ids
        size = WINDOW_RUNS if job.src.caps.run_windows and job.dst.caps.run_windows else sys.maxsize
        try:
            windows = run_scanner.iter_windows(
                job.src, eid, deleted, 0, size, job.options.run_window
            )
            for window, runs in windows:
                yield [eid], window, runs
        except MlflowException as exc:
            if not denied(exc):
                raise
            self._refused(eid, exc)

    def _refused(self, experiment_id: str, exc: Exception) -> None:
        """An experiment whose runs the source refuses to show (HTTP 403: the caller may not view
        it): that experiment fails (`!`, read again next pass); its later kinds are not planned; the
        pass goes on."""
        job = self.job
        job.plannable.discard(experiment_id)
        exp = job.src_snap.experiments[experiment_id]
        failed = Action(
            kind="experiment",
            op=Op.ERROR,
            label=exp.name,
            source_id=experiment_id,
            experiment=experiment_id,
            details={"reason": f"its runs cannot be read: {describe(exc)}"},
        )
        empty = Snapshot(job.src.identity)
        self.emit([failed], None, empty, empty)

    def _read_whole(self, dest_by_name: dict[str, str]) -> list[str]:
        """The experiments whose every run is read: all of them in a full pass; in a cycle reading
        changes only, those the destination does not hold or that were created after the last clean
        cycle started (their runs may carry older times, e.g. imported history, which the change
        signals would miss)."""
        job, since = self.job, self.job.options.runs_since
        return [
            eid
            for eid, e in job.src_snap.experiments.items()
            if since is None
            or job.dest_names[eid] not in dest_by_name
            or (e.creation_time or 0) >= since + RUNS_LOOKBACK_MS
        ]

    def _revisit(
        self, exp_ids: list[str], runs: list[RunSnap], dest_runs: list[RunSnap]
    ) -> list[RunSnap]:
        """Source runs whose copy is still RUNNING but which the change signals did not return
        (finished with an end time older than the cursor, or deleted): read by id, so that a copy
        never stays RUNNING."""
        have = {r.run_id for r in runs}
        ids = {
            sid
            for r in dest_runs
            if r.status == "RUNNING" and (sid := r.tags.get(TAG_SOURCE_RUN_ID)) and sid not in have
        }
        return (
            self.read(
                "source",
                lambda: run_scanner.fetch_runs(
                    self.job.src, exp_ids, ids, refused=self._run_refused
                ),
            )
            if ids
            else []
        )

    def _run_refused(self, run_id: str, exc: Exception) -> None:
        """A source run the source refuses to show (HTTP 403, read alone): that run fails (`!`, read
        again next pass); it is still in the source, so its copy is neither updated nor taken for a
        destination-only run."""
        self.facts.seen.add(run_id)
        failed = Action(
            kind="run",
            op=Op.ERROR,
            label=f"run {run_id}",
            source_id=run_id,
            details={"reason": f"it cannot be read: {describe(exc)}"},
        )
        empty = Snapshot(self.job.src.identity)
        self.emit([failed], None, empty, empty)

    def _first_lo(self) -> int | None:
        """The lower bound of an experiment's first window: its range's (a range unit), or none."""
        return None if self.job.options.run_window is None else self.job.options.run_window[0]

    def _dest_ids(
        self, exp_ids: list[str], window: Window | None, dest_by_name: dict[str, str]
    ) -> list[str]:
        """The destination experiments of a chunk (each read by one chunk, or by every window of
        one)."""
        job = self.job
        if window is not None and window[0] != self._first_lo():
            return self._window_dest
        dest_ids = sorted(
            {dest_by_name[n] for n in (job.dest_names[e] for e in exp_ids) if n in dest_by_name}
            - self._dest_taken
        )
        self._dest_taken.update(dest_ids)
        self._window_dest = dest_ids
        return dest_ids

    def _dest_runs(
        self, dest_ids: list[str], window: Window | None, runs: list[RunSnap]
    ) -> list[RunSnap]:
        """The destination runs of a chunk: every run of its experiments, or those of its window
        (plus copies the state store maps to its source runs that the window did not return). A
        range unit's windows take their runs in turn from one stream of the range's destination runs
        ordered by start time (read once, paged, beside the source's: syncer.engine.ray_units); on
        one machine each window is one filtered search (bench/range_reads.py: as many requests, as
        much work at a SQL store)."""
        job = self.job
        if window is None or job.options.run_window is None:
            found = run_scanner.window_runs(job.dst, dest_ids, window, True)
        else:
            if window[0] == self._first_lo():
                copies = run_scanner.ordered_runs(job.dst, dest_ids, job.options.run_window)
                self._taker = WindowTaker(copies if dest_ids else iter(()))
            found = self._taker.take(window[1])
        if window is None or job.state is None or not dest_ids:
            return found
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found if not retired(r.tags)}
        known = set(
            job.state.dest_ids("run", (r.run_id for r in runs if r.run_id not in have)).values()
        )
        known -= {r.run_id for r in found}
        return found + (run_scanner.fetch_runs(job.dst, dest_ids, known) if known else [])

    def _dest_changed(self, dest_ids: list[str], runs: list[RunSnap], since: int) -> list[RunSnap]:
        """The copies of the changed source runs: those the same change signals find (copies keep
        the times), then by the state store's ids (one search per 100), then by provenance tag (one
        search per run)."""
        job = self.job
        found = {
            r.run_id: r
            for _ids, rs in run_scanner.changed_runs(job.dst, dest_ids, since, True)
            for r in rs
        }
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found.values()}
        missing = [r.run_id for r in runs if r.run_id not in have]
        known = (
            set(job.state.dest_ids("run", missing).values())
            if job.state is not None and missing
            else set()
        )
        found.update(
            (r.run_id, r) for r in run_scanner.fetch_runs(job.dst, dest_ids, known) if known
        )
        have = {r.tags.get(TAG_SOURCE_RUN_ID) for r in found.values()}
        for sid in (sid for sid in missing if sid not in have):
            found.update((r.run_id, r) for r in run_scanner.copies_of(job.dst, dest_ids, sid))
        return list(found.values())

    def _defer(self, src: Snapshot, dst: Snapshot) -> None:
        f = self.facts
        f.seen.update(src.runs)
        f.deleted.update(rid for rid, r in src.runs.items() if r.deleted)
        for rid in leaving(src.runs, _Planned(f)):
            f.deferred[rid] = src.runs.pop(rid)
        for did, r in list(dst.runs.items()):
            if r.tags.get(TAG_SOURCE_RUN_ID) in f.deferred:
                f.deferred_copies[did] = dst.runs.pop(did)

    def _outside_parents(self, src: Snapshot, dst: Snapshot, dest_ids: list[str]) -> dict[str, str]:
        """For runs whose parent was planned in an earlier chunk: their copies' parents (read by
        id), as destination id -> source id, so that the copies' links compare as the source's."""
        f = self.facts
        outside = {
            r.parent_id for r in src.runs.values() if r.parent_id and r.parent_id not in src.runs
        }
        if not outside:
            return {}
        f.cross_parents.update(outside)
        parents = {
            c.parent_id for c in dst.runs.values() if c.parent_id and c.parent_id not in dst.runs
        }
        found = (
            self.read(
                "destination",
                lambda: run_scanner.fetch_runs(
                    self.job.dst, sorted(self.job.dst_snap.experiments), parents
                ),
            )
            if parents
            else []
        )
        return {
            r.run_id: r.tags[TAG_SOURCE_RUN_ID]
            for r in found
            if TAG_SOURCE_RUN_ID in r.tags and not retired(r.tags)
        }

    def _plan(
        self,
        src: Snapshot,
        dst: Snapshot,
        experiments: tuple[str, ...],
        linked=None,
        to_source: dict[str, str] | None = None,
        window: Window | None = None,
    ) -> None:
        job, f = self.job, self.facts
        wanted = {
            rid
            for rid, r in src.runs.items()
            if r.experiment_id in job.plannable
            and (job.options.deleted == "mirror" or not r.deleted)
        }
        f.wanted.update(wanted)
        copies = run_planner.copies_by_source(dst)
        f.with_copy.update(sid for sid, cs in copies.items() if any(not c.deleted for c in cs))
        actions = run_planner.plan_runs(
            src,
            dst,
            job.dst.caps,
            job.options,
            job.plannable,
            extras=False,
            linked=_Either(f.wanted, f.with_copy) if linked is None else linked,
            to_source=to_source,
        )
        local = {r.run_id: sid for sid, cs in copies.items() for r in cs if not retired(r.tags)}
        f.extras.extend(run_planner.extra_candidates(dst, local, wanted | set(f.deferred)))
        for a in actions:
            if a.source_id and a.op in (Op.CREATE, Op.UPDATE, Op.SAME):
                f.copied.add(a.source_id)
            if (
                a.op in (Op.CREATE, Op.UPDATE)
                and not a.details.get("follow")
                and a.source_id in src.runs
            ):
                f.pending_since[a.source_id] = src.runs[a.source_id].last_change or 0
        self.emit(actions, experiments, src, dst, window)

    def _retain(self, src: Snapshot, dst: Snapshot) -> None:
        """Keep whole only the runs later steps read: those linking prompt versions, and their
        copies."""
        job = self.job
        kept = {rid: r for rid, r in src.runs.items() if LINKED_PROMPTS in r.tags}
        job.src_snap.runs.update(kept)
        job.dst_snap.runs.update(
            {did: r for did, r in dst.runs.items() if r.tags.get(TAG_SOURCE_RUN_ID) in kept}
        )

    def _plan_deferred(self) -> None:
        f, job = self.facts, self.job
        if not f.deferred:
            return
        parents = {c.parent_id for c in f.deferred_copies.values() if c.parent_id} - set(
            f.deferred_copies
        )
        found = (
            self.read(
                "destination",
                lambda: run_scanner.fetch_runs(job.dst, sorted(job.dst_snap.experiments), parents),
            )
            if parents
            else []
        )
        to_source = {
            r.run_id: r.tags[TAG_SOURCE_RUN_ID]
            for r in found
            if TAG_SOURCE_RUN_ID in r.tags and not retired(r.tags)
        }
        linked = IdSet(sid for r in found if not r.deleted and (sid := to_source.get(r.run_id)))
        if (
            job.options.runs_since is not None
        ):  # a cycle reading changes only: the parents it did not read
            unread = {
                r.parent_id
                for r in f.deferred.values()
                if r.parent_id and r.parent_id not in f.seen
            }
            parents = (
                self.read(
                    "source",
                    lambda: run_scanner.fetch_runs(
                        job.src, sorted(job.src_snap.experiments), unread
                    ),
                )
                if unread
                else []
            )
            linked.update(
                r.run_id
                for r in parents
                if r.experiment_id in job.plannable
                and (job.options.deleted == "mirror" or not r.deleted)
            )
        src = Snapshot(
            job.src.identity, experiments=job.src_snap.experiments, runs=dict(f.deferred)
        )
        dst = Snapshot(
            job.dst.identity, experiments=job.dst_snap.experiments, runs=dict(f.deferred_copies)
        )
        self._plan(
            src, dst, DEFERRED, linked=_Either(f.wanted, f.with_copy, linked), to_source=to_source
        )
        self._retain(src, dst)

    def _plan_extras(self) -> None:
        f = self.facts
        actions = run_planner.plan_extra_runs(f.extras, self.job.options, f.source_state)
        self.job.extra_groups.update({c.run_id: c.group for c in f.extras})
        f.extras = []
        empty = Snapshot(self.job.src.identity)
        self.emit(actions, None, empty, empty)
