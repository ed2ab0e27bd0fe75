"""The run step, streamed a chunk of experiments at a time, so that memory follows the chunk, not
the source.

For each chunk (experiments read together, at most `CHUNK_RUNS` runs; an experiment above that is
cut into start-time windows of about `CHUNK_RUNS` runs when both ends can filter on start times:
syncer.scan.run_chunks) both sides' runs are read (the destination's of a window: its copies keep
the source's start times; `dest_reads`), planned by the pure planner and handed to `out.emit`
(verify, inspection, the plan's spill), then dropped. What later steps need is kept compactly
(`facts.RunFacts`): which source runs exist, are planned, have a copy, or have or get a copy
(`Known.copied_runs`), all as 8-byte hashes (syncer.core.compact_ids). Kept whole: source runs
carrying a tag a later kind reads (`keep_runs_tagged`: prompt links) and their copies, and runs
whose parent lies in a chunk not read yet (with their copies), planned after every chunk with the
global facts so that nested-run links across chunks stay exact; a run whose parent was planned in an
earlier chunk is planned in its own chunk, its copy's parent read by id. Destination-only runs are
decided at the end, once every source run was seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain

from mlflow.exceptions import MlflowException

from syncer.backends.classify import denied
from syncer.core.actions import Action, Op
from syncer.core.compact_ids import IdSet
from syncer.core.snapshot import TAG_SOURCE_RUN_ID, RunSnap, Snapshot, retired
from syncer.core.windows import Window
from syncer.kinds.runs import chunk_reads
from syncer.kinds.runs.dest_reads import DestReads
from syncer.kinds.runs.facts import CopiedBefore, Either, Planned, RunFacts, leaving
from syncer.kinds.runs.refusals import experiment_refused, run_refused
from syncer.plan.extra_runs import extra_candidates, plan_extra_runs
from syncer.plan.runs import copies_by_source, plan_runs
from syncer.scan import runs as run_scanner
from syncer.scan.run_changes import changed_runs
from syncer.scan.run_chunks import Chunk, iter_chunks, iter_windows

CHUNK_RUNS = 5_000
# an experiment above CHUNK_RUNS is read in start-time windows of about this many runs
WINDOW_RUNS = 1_000
# a change-only cycle's margin: clocks of training clients, runs ending mid-cycle
RUNS_LOOKBACK_MS = 10 * 60 * 1000
DEFERRED: tuple[str, ...] = ()  # the experiments of the segment of runs planned after every chunk


# Tags of source runs a later kind's planner reads whole: those runs and their copies are kept
# beside the compact facts. A kind adds its tag when it is imported (`keep_runs_tagged`).
_KEPT_TAGS: set[str] = set()


def keep_runs_tagged(tag: str) -> None:
    """Keep the source runs carrying `tag`, and their copies, whole in the pass's snapshots (read by
    a later kind's planner)."""
    _KEPT_TAGS.add(tag)


Emit = Callable[..., None]  # (actions, chunk experiments or None, src, dst, window=None)
# (side, read) -> what read returned, errors made fatal
Read = Callable[[str, Callable[[], object]], object]


@dataclass
class RunStream:
    """Plans the runs of one pass chunk by chunk (see the module docstring)."""

    job: object  # syncer.kinds.runs.kind.RunInput
    read: Read
    emit: Emit
    facts: RunFacts = field(default_factory=RunFacts)
    dest: DestReads = field(init=False)
    # what the step hands on: the experiments still plannable (one whose runs cannot be read is
    # dropped) and the experiment of each destination-only run
    plannable: set[str | None] = field(init=False)
    extra_groups: dict[str, str] = field(default_factory=dict)
    held: list[chunk_reads.Refusal] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.dest = DestReads(self.job)
        self.plannable = set(self.job.plannable)

    def copied_runs(self) -> IdSet | Either:
        """The source runs that have or get a copy: those this pass planned, and in a cycle reading
        changes only also those the state store records as copied."""
        opts = self.job.options
        if (opts.runs_since is None and not opts.settled_runs) or self.job.state is None:
            return self.facts.copied
        return Either(self.facts.copied, CopiedBefore(self.job.state))

    def run(self) -> None:
        """Read, plan and emit every chunk, then the deferred runs and the destination-only runs."""
        job = self.job
        job.src_snap.run_ids = self.facts.seen
        self.facts.settle(job.options)  # what Ray range units found of the runs not read here
        dest_by_name = {e.name: e.experiment_id for e in job.dst_snap.experiments.values()}
        whole = self._read_whole(dest_by_name)
        chunks = chunk_reads.each(self.read, self._chunks(whole))
        for step in chunk_reads.steps(self, chunks, set(whole), dest_by_name, self.held):
            for experiment_id, exc in step.refused:
                self._refuse(experiment_id, exc)
            if step.chunk is not None:
                self._plan_chunk(step)
        self._plan_deferred()
        # a cycle reading changes only cannot tell a destination-only run from an unread one (a
        # range unit's are weighed by syncer.engine.ray_units)
        if job.options.runs_since is None:
            self._plan_extras()

    def _chunks(self, whole: list[str]) -> Iterator[Chunk]:
        """The source's chunks: a range unit's windows, or the runs of the experiments read whole,
        then (a cycle reading changes only) the changed runs of the others."""
        job, since = self.job, self.job.options.runs_since
        deleted = job.settings.deleted == "mirror"
        windows = WINDOW_RUNS if job.src.caps.run_windows and job.dst.caps.run_windows else None
        return chain(
            self._ranged(deleted)
            if job.options.run_window is not None
            else iter_chunks(
                job.src,
                whole,
                deleted,
                CHUNK_RUNS,
                windows,
                self._refused,
                job.settings.scan_threads,
            ),
            (
                (e, None, rs)
                for e, rs in changed_runs(
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

    def _plan_chunk(self, step: chunk_reads.Step) -> None:
        """Read (or take, read ahead) the destination runs of one chunk (`changed`: its source runs
        are the changed ones only), then plan and emit it."""
        job, since = self.job, self.job.options.runs_since
        (exp_ids, window, runs), changed, dest_ids = step.chunk, step.changed, step.dest_ids
        dest_runs = self.read(
            "destination",
            lambda: (
                self.dest.changed(dest_ids, runs, since)
                if changed
                else self.dest.runs(dest_ids, window, runs, step.dest_runs())
            ),
        )
        if changed:
            runs = runs + self._revisit(exp_ids, runs, dest_runs)
        src = Snapshot(
            job.src.identity, experiments=job.src_snap.experiments, runs={r.run_id: r for r in runs}
        )
        dst = Snapshot(
            job.dst.identity,
            experiments=job.dst_snap.experiments,
            runs={r.run_id: r for r in dest_runs},
        )
        self._defer(src, dst)
        to_source = self._outside_parents(src, dst, dest_ids)
        self._plan(src, dst, tuple(exp_ids), to_source=to_source, window=window)
        self._retain(src, dst)

    def _ranged(self, deleted: bool) -> Iterator[Chunk]:
        """A range unit's chunks (syncer.engine.ray_units): its experiment's runs started within its
        range, read in start-time order and cut into windows of about WINDOW_RUNS runs. A range the
        source refuses to show (HTTP 403) fails its experiment (`_refused`), as on one machine."""
        job = self.job
        (eid,) = job.options.experiment_ids
        size = WINDOW_RUNS if job.src.caps.run_windows and job.dst.caps.run_windows else sys.maxsize
        try:
            windows = iter_windows(job.src, eid, deleted, 0, size, job.options.run_window)
            for window, runs in windows:
                yield [eid], window, runs
        except MlflowException as exc:
            if not denied(exc):
                raise
            self._refused(eid, exc)

    def _refused(self, experiment_id: str, exc: Exception) -> None:
        """An experiment whose runs the source refuses to show fails, in its turn (met while
        reading ahead: `held` until then)."""
        self.held.append((experiment_id, exc))

    def _refuse(self, experiment_id: str, exc: Exception) -> None:
        """An experiment whose runs the source refuses to show fails; its later kinds are not
        planned; the pass goes on."""
        self.plannable.discard(experiment_id)
        name = self.job.src_snap.experiments[experiment_id].name
        self._emit_alone([experiment_refused(name, experiment_id, exc)])

    def _emit_alone(self, actions: list[Action]) -> None:
        """Emit actions planned from no chunk (failures, destination-only runs)."""
        empty = Snapshot(self.job.src.identity)
        self.emit(actions, None, empty, empty)

    def _read_whole(self, dest_by_name: dict[str, str]) -> list[str]:
        """The experiments whose every run is read: all of them in a full pass; in a cycle reading
        changes only, those the destination does not hold or that were created after the last clean
        cycle started (their runs may carry older times, e.g. imported history, which the change
        signals would miss)."""
        job, since = self.job, self.job.options.runs_since
        return [
            eid
            for eid, e in job.src_snap.experiments.items()
            if job.dest_names[eid] not in dest_by_name
            or (since is None and eid not in job.options.settled_runs)
            or (since is not None and (e.creation_time or 0) >= since + RUNS_LOOKBACK_MS)
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
        """A source run the source refuses to show (read alone) fails; it is still in the source, so
        its copy is neither updated nor taken for a destination-only run."""
        self.facts.seen.add(run_id)
        self._emit_alone([run_refused(run_id, exc)])

    def _defer(self, src: Snapshot, dst: Snapshot) -> None:
        f = self.facts
        f.seen.update(src.runs)
        f.deleted.update(rid for rid, r in src.runs.items() if r.deleted)
        for rid in leaving(src.runs, Planned(f)):
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
            if r.experiment_id in self.plannable
            and (job.options.deleted == "mirror" or not r.deleted)
        }
        f.wanted.update(wanted)
        copies = copies_by_source(dst)
        f.with_copy.update(sid for sid, cs in copies.items() if any(not c.deleted for c in cs))
        actions = plan_runs(
            src,
            dst,
            job.dst.caps,
            job.options,
            self.plannable,
            extras=False,
            linked=Either(f.wanted, f.with_copy) if linked is None else linked,
            to_source=to_source,
        )
        local = {r.run_id: sid for sid, cs in copies.items() for r in cs if not retired(r.tags)}
        f.extras.extend(extra_candidates(dst, local, wanted | set(f.deferred)))
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
        """Keep whole only the runs later steps read: those carrying a kept tag (`keep_runs_tagged`:
        prompt links), and their copies."""
        job = self.job
        kept = {rid: r for rid, r in src.runs.items() if not _KEPT_TAGS.isdisjoint(r.tags)}
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
        # a cycle reading changes only: the parents it did not read
        if job.options.runs_since is not None:
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
                if r.experiment_id in self.plannable
                and (job.options.deleted == "mirror" or not r.deleted)
            )
        src = Snapshot(
            job.src.identity, experiments=job.src_snap.experiments, runs=dict(f.deferred)
        )
        dst = Snapshot(
            job.dst.identity, experiments=job.dst_snap.experiments, runs=dict(f.deferred_copies)
        )
        self._plan(
            src, dst, DEFERRED, linked=Either(f.wanted, f.with_copy, linked), to_source=to_source
        )
        self._retain(src, dst)

    def _plan_extras(self) -> None:
        f, src = self.facts, self.job.src
        f.look_up_settled(self.job.options, lambda e, i: run_scanner.fetch_runs(src, e, i))
        actions = plan_extra_runs(f.extras, self.job.options.delete_extra, f.source_state)
        self.extra_groups.update({c.run_id: c.group for c in f.extras})
        f.extras = []
        self._emit_alone(actions)
