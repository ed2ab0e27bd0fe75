"""Bring one destination run up to date with its source run. Safe to repeat and to resume.

Order of writes: create (with provenance tags) -> {params/tags/metrics batches, dataset inputs,
artifacts}
-> status and end time -> fingerprint marker -> deletion. The three in braces depend only on the
  run's id and
are sent side by side when the executor lends threads for it (`Lanes.writes`); each must succeed
before the status is written, so a half-copied run never shows FINISHED (or FAILED, KILLED) with an
end time on the destination. The marker is the last write of a live run, so a run without the
current marker is known to be incomplete and is completed on the next pass by comparing what the
destination already holds.

Where the destination's log_batch writes a batch's tags after its params and metrics (plain MLflow:
the SQL and file stores do, in that order), the marker rides in the run's last batch, sent once the
other writes succeeded (after the status, the batch holds only the marker; a set_tag where the
destination limits log_batch more than other calls, or on a direct SQL store). Elsewhere it is a
set_tag of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, wait
from dataclasses import dataclass, field, replace

import structlog
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

from syncer.apply import policy_artifacts as policy_io
from syncer.apply.batching import BatchWriter
from syncer.apply.context import Context
from syncer.apply.exactly_once import (
    Settlement,
    create_run_at,
    create_run_once,
    log_batch_once,
    retire,
    set_aside,
)
from syncer.backends import artifacts as art
from syncer.backends import telemetry
from syncer.backends.calls import call
from syncer.backends.metric_history import HistoryReader
from syncer.backends.write_once import UnwritableArtifact
from syncer.core.actions import Action
from syncer.core.errors import SyncError
from syncer.core.fitting import Fitted, expected_tags, fit_run, key_violations
from syncer.core.log_model_history import HISTORY_TAG, remapped
from syncer.core.metric_points import missing_points
from syncer.core.snapshot import (
    PARENT_TAG,
    TAG_FINGERPRINT,
    TAG_SOURCE,
    TAG_SOURCE_PARENT_RUN_ID,
    TAG_SOURCE_RUN_ID,
    RunSnap,
    user_tags,
)
from syncer.state.store import IN_PROGRESS

log = structlog.get_logger(__name__)


@dataclass
class Lanes:
    """What the executor lends a run copy: threads for the run's independent writes, a way to get
    the run's source files read ahead, where an answered create's duplicate check is deferred to,
    and whom to tell that the create was answered."""

    writes: Executor | None = None
    ahead: Callable[[], art.SourceFiles | None] = field(default=lambda: None)
    settlement: Settlement | None = None
    created: Callable[[], None] = field(default=lambda: None)  # the run's create was answered


@dataclass
class RunStats:
    metric_points: int = 0
    params: int = 0
    tags: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    retired: list[str] = field(
        default_factory=list
    )  # copies set aside for a fresh one: "<id>: why"


def _create(
    ctx: Context, run: RunSnap, dest_exp_id: str, parent_dest: str | None, later: Settlement | None
) -> tuple[str, str]:
    caps = ctx.dst.caps
    tags = {
        k: v
        for k, v in expected_tags(user_tags(run.tags), caps).items()
        if not k.startswith(caps.tags_set_after_create)
    }
    tags[TAG_SOURCE] = ctx.src.identity
    tags[TAG_SOURCE_RUN_ID] = run.run_id
    if run.parent_id:
        tags[TAG_SOURCE_PARENT_RUN_ID] = run.parent_id
    if parent_dest:
        tags[PARENT_TAG] = parent_dest
    ctx.guard()
    return create_run_once(
        ctx,
        dest_exp_id,
        run.run_id,
        lambda: create_run_at(ctx.dst.client, dest_exp_id, run.start_time, tags, run.name or None),
        later,
        run.start_time,
    )


def _send(ctx: Context, dest_run_id: str):
    def send(metrics: list[Metric], params: list[Param], tags: list[RunTag]) -> None:
        ctx.guard()
        log_batch_once(ctx, dest_run_id, metrics, params, tags)

    return send


def _history(endpoint, run_id: str, key: str) -> list[Metric]:
    return call(
        endpoint, "get_metric_history", lambda: endpoint.client.get_metric_history(run_id, key)
    )


def _copy_values(
    ctx: Context,
    run: RunSnap,
    fitted: Fitted,
    dest: RunSnap | None,
    dest_run_id: str,
    parent_dest: str | None,
    full_check: bool,
    stats: RunStats,
    last: Callable[[Callable[[], None]], list[RunTag]] = lambda _flush: [],
) -> None:
    """Params, tags and metric points the destination run lacks, in filled batches; `last(flush)`
    runs before the last batch is sent (`flush` sends what is pending) and returns tags to send in
    it (the marker, once the run's other writes are done)."""
    caps = ctx.dst.caps
    writer = BatchWriter(caps, _send(ctx, dest_run_id))
    reader = ctx.history or HistoryReader(ctx.src, [])
    have_params = dest.params if dest else {}
    for k, v in sorted(fitted.params.items()):
        if k in have_params and have_params[k] != v:
            raise SyncError(f"param {k} differs in the destination and params cannot change")
    new_params = [Param(k, v) for k, v in sorted(fitted.params.items()) if k not in have_params]
    writer.add_params(new_params)
    have_tags = dest.tags if dest else {}
    want_tags = dict(fitted.tags)
    if dest is None:
        want_tags = {k: v for k, v in want_tags.items() if k.startswith(caps.tags_set_after_create)}
    elif parent_dest and have_tags.get(PARENT_TAG) != parent_dest:
        want_tags[PARENT_TAG] = parent_dest
    history = remapped(run.tags.get(HISTORY_TAG, ""), run.run_id, dest_run_id)
    if history is not None and caps.tags_per_run is None and len(history) <= caps.run_tag_value_len:
        want_tags[HISTORY_TAG] = history
    new_tags = [RunTag(k, v) for k, v in sorted(want_tags.items()) if have_tags.get(k) != v]
    writer.add_tags(new_tags)
    for key in fitted.metrics:
        if dest is not None and not full_check and dest.metrics.get(key) == run.metrics[key]:
            continue
        if dest is None:  # a fresh run holds nothing to compare with: stream the source's pages
            for page in reader.pages(run.run_id, key):
                writer.add_metrics(page)
            continue
        present = _history(ctx.dst, dest_run_id, key)
        writer.add_metrics(
            missing_points(
                reader.history(run.run_id, key), present, caps.collapses_duplicate_points
            )
        )
    writer.add_tags(last(writer.flush))
    writer.flush()
    stats.metric_points += writer.points_sent
    stats.params += len(new_params)
    stats.tags += len(new_tags)
    telemetry.METRIC_POINTS.inc(writer.points_sent)


def _copy_inputs(ctx: Context, run: RunSnap, dest: RunSnap | None, dest_run_id: str) -> None:
    have = {(d.name, d.digest) for d in dest.inputs} if dest else set()
    todo = [d for d in run.inputs if (d.name, d.digest) not in have]
    if not todo:
        return
    datasets = [
        DatasetInput(
            Dataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile),
            [InputTag(k, v) for k, v in d.tags],
        )
        for d in todo
    ]
    ctx.guard()
    call(ctx.dst, "log_inputs", lambda: ctx.dst.client.log_inputs(dest_run_id, datasets=datasets))


def _copy_artifacts(
    ctx: Context,
    run: RunSnap,
    fitted: Fitted,
    dest_exists: bool,
    dest_artifact_uri: str,
    stats: RunStats,
    force: list[str],
    ahead: art.SourceFiles | None = None,
) -> None:
    src_repo = ctx.src.artifact_repo(run.artifact_uri)
    dst_repo = ctx.dst.artifact_repo(dest_artifact_uri)
    existing: dict[str, int | None] = {}
    if dest_exists:
        existing = art.listing(ctx.dst, dst_repo)
        if not ctx.dst.caps.artifact_sizes:
            recorded = ctx.state.uploaded_artifacts(run.run_id)
            existing = {p: recorded[p] for p in existing if p in recorded}
        for path in force:  # same size, other bytes: found by --verify
            existing.pop(path, None)

    def on_copied(path: str, size: int) -> None:
        if not ctx.dst.caps.artifact_sizes:
            ctx.state.record_artifact(run.run_id, path, size)

    ctx.guard()
    copied = art.copy_tree(
        ctx.src, src_repo, ctx.dst, dst_repo, existing, on_copied, ahead, frozenset(force)
    )
    policy_io.write(ctx, run, fitted, dst_repo, existing, on_copied, copied)
    stats.artifact_files += copied.files
    stats.artifact_bytes += copied.bytes
    telemetry.ARTIFACT_BYTES.inc(copied.bytes)


def _needs_status(run: RunSnap, dest: RunSnap | None) -> bool:
    """Whether `_status` has something to write: the copy's status, end time or name."""
    if dest is None:
        return run.status != "RUNNING"
    if run.name and dest.name != run.name:
        return True
    if run.status == "RUNNING":
        return dest.status != "RUNNING"
    return (dest.status, dest.end_time) != (run.status, run.end_time)


def _status(ctx: Context, run: RunSnap, dest: RunSnap | None, dest_run_id: str) -> None:
    client = ctx.dst.client
    if run.status != "RUNNING" and (
        dest is None or (dest.status, dest.end_time) != (run.status, run.end_time)
    ):
        ctx.guard()
        call(
            ctx.dst,
            "set_terminated",
            lambda: client.set_terminated(dest_run_id, status=run.status, end_time=run.end_time),
        )
    elif run.status == "RUNNING" and dest is not None and dest.status != "RUNNING":
        ctx.guard()
        call(ctx.dst, "update_run", lambda: client.update_run(dest_run_id, status="RUNNING"))
    if dest is not None and run.name and dest.name != run.name:
        call(ctx.dst, "update_run", lambda: client.update_run(dest_run_id, name=run.name))


def _finish(ctx: Context, run: RunSnap, dest_run_id: str, marker: str | None) -> None:
    client = ctx.dst.client
    if marker is not None:
        ctx.guard()
        call(ctx.dst, "set_tag", lambda: client.set_tag(dest_run_id, TAG_FINGERPRINT, marker))
    if run.deleted:
        call(ctx.dst, "delete_run", lambda: client.delete_run(dest_run_id))


def side_by_side(
    writes: Executor | None,
    main: Callable[[Callable[[], None]], None],
    others: list[Callable[[], None]],
) -> None:
    """Run `main` and `others` side by side (`others` on `writes`; one after another without it).
    `main` gets `join`, which returns once every other task succeeded and raises the first failure.
    Every task has ended when this returns or raises, so nothing is still writing afterwards."""
    futures = [writes.submit(task) for task in others] if writes is not None else []
    left = [] if writes is not None else list(others)

    def join() -> None:
        while left:
            left.pop(0)()
        wait(futures)
        for fut in futures:
            fut.result()

    try:
        main(join)
    finally:
        wait(futures)
    join()


RETIRED_UNWRITABLE = "unwritable-artifact"


def copy_run(
    ctx: Context, action: Action, dest_exp_id: str, lanes: Lanes | None = None
) -> tuple[str, RunStats]:
    """Create or complete the destination copy of one source run. Returns its id and what was
    copied.

    A copy being completed that holds a path the destination recorded but never received the content
    of (a write-once path cut short) can never be completed: it is retired (tagged why,
    soft-deleted), the state store forgets it, and the run is copied afresh in the same unit of
    work."""
    try:
        return _copy_run(ctx, action, dest_exp_id, lanes or Lanes())
    except UnwritableArtifact as exc:
        if action.dest_id is None:
            raise
        set_aside(ctx, action.dest_id, RETIRED_UNWRITABLE)
        ctx.state.forget("run", action.source_id or "")
        note = f"{action.dest_id}: retired ({exc})"
        log.warning(
            "incomplete copy retired", run=action.label, dest_id=action.dest_id, error=str(exc)
        )
        fresh = Lanes(writes=lanes.writes if lanes else None)
        details = {k: v for k, v in action.details.items() if k != "duplicates"}  # retired already
        dest_run_id, stats = _copy_run(
            ctx, replace(action, dest_id=None, details=details), dest_exp_id, fresh
        )
        stats.retired.append(note)
        return dest_run_id, stats


def _marker_in_batch(ctx: Context, marker: str | None, status_due: bool) -> bool:
    """Whether the marker rides in the run's last batch (where the destination writes a batch's
    tags last). After the status that batch would hold the marker alone: one request either way,
    so a set_tag where log_batch is the destination's scarcer rate class, or where a set_tag costs
    the store less (`marker_alone_as_tag`: a direct SQL store reads the run twice for a batch)."""
    caps = ctx.dst.caps
    if marker is None or not caps.batch_tags_last:
        return False
    alone_as_tag = caps.marker_alone_as_tag or ctx.dst.limiter.scarcer("log_batch", "other")
    return not (status_due and alone_as_tag)


def _copy_run(ctx: Context, action: Action, dest_exp_id: str, lanes: Lanes) -> tuple[str, RunStats]:
    run = ctx.src_snap.runs[action.source_id]
    dest = ctx.dst_snap.runs.get(action.dest_id) if action.dest_id else None
    parent_dest = ctx.dest_id("run", run.parent_id)
    stats = RunStats()
    violations = key_violations([*run.params, *run.metrics, *user_tags(run.tags)])
    if violations:
        raise SyncError("; ".join(violations))
    if dest is None:
        dest_run_id, artifact_uri = _create(ctx, run, dest_exp_id, parent_dest, lanes.settlement)
        ctx.state.record("run", run.run_id, dest_run_id, IN_PROGRESS, name=action.label)
        lanes.created()
    else:
        dest_run_id, artifact_uri = dest.run_id, dest.artifact_uri
        if dest.deleted:
            call(ctx.dst, "restore_run", lambda: ctx.dst.client.restore_run(dest_run_id))
    for duplicate in action.details.get("duplicates", []):
        retire(ctx, duplicate, dest_run_id)
    ctx.map_id("run", run.run_id, dest_run_id)
    full_check = dest is not None and (
        dest.tags.get(TAG_FINGERPRINT) is None or "repair" in action.details
    )
    fitted = fit_run(run.params, user_tags(run.tags), list(run.metrics), ctx.dst.caps)
    force = action.details.get("artifacts_checksum_differs", [])
    fp = action.fingerprint or ""
    marker = fp if dest is None or dest.tags.get(TAG_FINGERPRINT) != fp else None
    status = _needs_status(run, dest)
    in_batch = _marker_in_batch(ctx, marker, status)

    def values(join: Callable[[], None]) -> None:
        def last(flush: Callable[[], None]) -> list[RunTag]:
            if status:
                flush()  # the run's last values, side by side with its files
            join()  # status and marker only after every other write of the run succeeded: a copy
            if status:  # shows its end only when it holds the rest
                _status(ctx, run, dest, dest_run_id)
            return [RunTag(TAG_FINGERPRINT, fp)] if in_batch else []

        _copy_values(ctx, run, fitted, dest, dest_run_id, parent_dest, full_check, stats, last)

    side_by_side(
        lanes.writes,
        values,
        [
            lambda: _copy_artifacts(
                ctx,
                run,
                fitted,
                dest is not None,
                artifact_uri,
                stats,
                force,
                lanes.ahead() if dest is None else None,
            ),
            lambda: _copy_inputs(ctx, run, dest, dest_run_id),
        ],
    )
    _finish(ctx, run, dest_run_id, None if in_batch else marker)
    return dest_run_id, stats
