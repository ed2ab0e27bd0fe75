"""Restore archived traces (syncer.kinds.traces.archive) into a destination that has the trace API.

The same path as a direct copy: each batch of archived traces is planned by the trace planner
(syncer.kinds.traces.plan: copies matched by `mlflow_syncer.source_trace_id`, duplicates retired)
against the destination's copies of the same hour, and written by the trace copier
(syncer.kinds.traces.apply: spans, then the info with the source's times, ids in provenance and the
fingerprint, at the id derived from the source trace id and the destination experiment). A copy made
by a migration or an earlier restore is found, so a second restore writes nothing; a restore killed
half-way is completed by the next one, at the same ids.

Run links (`mlflow.sourceRun`) are remapped to the destination run whose
`mlflow_syncer.source_run_id` is the source run, or, when the runs reached the destination through
the archive's server (source -> archive -> destination), to the copy of the archive's copy of that
run. A trace whose run has no copy yet is written without the link and marked unlinked: a later
restore links it. Memory: one hour's listing and one batch of whole traces at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from mlflow.entities import Trace

from syncer.apply.context import Context
from syncer.backends.calls import call
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.core.actions import Op
from syncer.core.archive import Experiment, Skip
from syncer.core.capabilities import supports
from syncer.core.errors import FatalError
from syncer.core.snapshot import TAG_SOURCE_RUN_ID, ExperimentSnap, Snapshot
from syncer.kinds.traces.apply import (
    BATCH_BYTES,
    TRACE_BATCH,
    finish_copy,
    needs_spans,
    write_spans,
)
from syncer.kinds.traces.archive_scan import (
    ArchivedTrace,
    archived_hours,
    bucket_range,
    read_trace,
)
from syncer.kinds.traces.capabilities import KIND
from syncer.kinds.traces.pages import iter_trace_infos
from syncer.kinds.traces.plan import plan_traces
from syncer.kinds.traces.scan import trace_snap
from syncer.kinds.traces.snapshot import UNLINKED, TraceSnap, batches
from syncer.plan.uncopied import missing_api
from syncer.scan.archive import Holder

WORKERS = 8  # archived trace files downloaded, and trace infos written, at once (within one batch)


def _run_copy(endpoint: Endpoint, experiment_id: str, source_run: str) -> str | None:
    found = call(
        endpoint,
        "search_runs",
        lambda: endpoint.client.search_runs(
            [experiment_id], f"tags.{TAG_SOURCE_RUN_ID} = '{source_run}'", max_results=1
        ),
    )
    return found[0].info.run_id if found else None


@dataclass
class RunLinks:
    """Source run id -> the destination run a restored trace links to (None: no copy there),
    cached."""

    archive: Endpoint
    dst: Endpoint
    holder: Holder
    _found: dict[str, str | None] = field(default_factory=dict)
    _archive_exp: list[str | None] = field(default_factory=list)

    def _archive_copy(self, source_run: str) -> str | None:
        """The archive server's own copy of a source run (a migration into it put it next to the
        holder's name)."""
        if not self._archive_exp:
            exp = call(
                self.archive,
                "get_experiment_by_name",
                lambda: self.archive.client.get_experiment_by_name(
                    self.holder.experiment_name or ""
                ),
            )
            self._archive_exp.append(exp.experiment_id if exp is not None else None)
        exp_id = self._archive_exp[0]
        return _run_copy(self.archive, exp_id, source_run) if exp_id else None

    def dest_run(self, source_run: str, dest_exp: str) -> str | None:
        """The destination copy of `source_run` in `dest_exp`, directly or through the archive's
        copy."""
        if source_run not in self._found:
            found = _run_copy(self.dst, dest_exp, source_run)
            if found is None:
                via = self._archive_copy(source_run)
                found = _run_copy(self.dst, dest_exp, via) if via else None
            self._found[source_run] = found
        return self._found[source_run]


def _copies(dst: Endpoint, dest_exp: str, hour: str) -> dict[str, TraceSnap]:
    """The destination's traces of one hour in `dest_exp` (copies keep the source's request
    times)."""
    since, until = bucket_range(hour)
    return {
        info.trace_id: trace_snap(info) for info in iter_trace_infos(dst, dest_exp, since, until)
    }


def _complete(copies: list[TraceSnap]) -> bool:
    """One copy, finished (fingerprint written, run linked): nothing to read or write for it."""
    return len(copies) == 1 and copies[0].copy_fingerprint not in (None, "", UNLINKED)


def _read(
    archive: Endpoint, holder: Holder, files: list[ArchivedTrace], skip: Skip
) -> dict[str, Trace]:
    """The batch's archived traces, downloaded `WORKERS` at a time (one batch is in memory at
    most)."""
    traces = {}
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="restore-traces") as pool:
        futures = [pool.submit(read_trace, archive, holder.run_id, f.path) for f in files]
        for fut in futures:
            try:
                trace = fut.result()
            except FatalError:
                raise
            except Exception as exc:
                skip(f"archived trace unreadable: {describe(exc)}", 1)
                continue
            traces[trace.info.trace_id] = trace
    return traces


def _restore_batch(
    archive: Endpoint,
    dst: Endpoint,
    holder: Holder,
    dest_exp: str,
    files: list[ArchivedTrace],
    copies: dict[str, TraceSnap],
    links: RunLinks,
    skip: Skip,
) -> tuple[int, int]:
    """Plan and write one batch like a direct copy: (traces written, traces already restored)."""
    traces = _read(archive, holder, files, skip)
    src_exp, name = holder.experiment or "", holder.experiment_name or ""
    snaps = {tid: replace(trace_snap(t.info), experiment_id=src_exp) for tid, t in traces.items()}
    src_snap = Snapshot(
        archive.identity,
        experiments={src_exp: ExperimentSnap(src_exp, name, "active")},
        parts={"trace": dict(snaps)},
    )
    dst_snap = Snapshot(
        dst.identity,
        experiments={dest_exp: ExperimentSnap(dest_exp, name, "active")},
        parts={"trace": dict(copies)},
    )
    runs = {s.source_run for s in snaps.values() if s.source_run}
    actions = plan_traces(src_snap, dst_snap, {src_exp: name}, dst.caps, {src_exp}, runs)
    ctx = Context(src=archive, dst=dst, src_snap=src_snap, dst_snap=dst_snap, state=None)
    for run in runs:
        if (copy := links.dest_run(run, dest_exp)) is not None:
            ctx.map_id("run", run, copy)
    todo = [a for a in actions if a.op in (Op.CREATE, Op.UPDATE)]
    try:
        write_spans(ctx, dest_exp, [(a, traces[a.source_id]) for a in todo if needs_spans(a)])
    except FatalError:
        raise
    except Exception as exc:
        skip(f"trace spans not written: {describe(exc)}", len(todo))
        return 0, len(actions) - len(todo)
    written = 0
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="restore-traces") as pool:
        for fut in [
            pool.submit(finish_copy, ctx, a, traces[a.source_id or ""], dest_exp) for a in todo
        ]:
            try:
                fut.result()
                written += 1
            except FatalError:
                raise
            except Exception as exc:
                skip(f"trace not restored: {describe(exc)}", 1)
    return written, len(actions) - len(todo)


def restore_traces(
    archive: Endpoint,
    dst: Endpoint,
    holder: Holder,
    experiment: Experiment,
    skip: Skip,
) -> tuple[int, int]:
    """Restore the traces of one holder run, hour by hour: (traces written, traces found already
    restored).

    `experiment()` gives the destination experiment (created on first need); objects not restored
    are passed to `skip` with the reason.
    """
    written = unchanged = 0
    links = RunLinks(archive, dst, holder)
    for hour, files in archived_hours(archive, holder.run_id):
        if not files:
            continue
        if not supports(dst.caps, KIND) or holder.experiment is None:
            skip(
                missing_api("trace", dst.caps)
                if not supports(dst.caps, KIND)
                else "trace outside an experiment",
                len(files),
            )
            continue
        dest_exp = experiment()
        assert dest_exp is not None  # a holder of an experiment has its name
        copies = _copies(dst, dest_exp, hour)
        by_source: dict[str, list[TraceSnap]] = {}
        for c in copies.values():
            if c.source_trace_id:
                by_source.setdefault(c.source_trace_id, []).append(c)
        todo = [f for f in files if not _complete(by_source.get(f.source_id, []))]
        unchanged += len(files) - len(todo)
        for batch in batches(todo, [max(f.size, 0) for f in todo], TRACE_BATCH, BATCH_BYTES):
            w, u = _restore_batch(archive, dst, holder, dest_exp, batch, copies, links, skip)
            written, unchanged = written + w, unchanged + u
    return written, unchanged
