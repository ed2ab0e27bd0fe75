"""Keep every copy single when a create was applied but its answer was lost.

Creates are not idempotent: when a `create_run` or `create_experiment` reaches the server but the
answer does not come back (connection reset, 5xx after the write), MLflow's HTTP layer or ours sends
it again and the server creates a second object. Runs are settled right after creation: every live
copy carrying the source run id is found by its provenance tag, one is kept and the others are
retired (tagged `mlflow_syncer.duplicate_of` and deleted). A create that was answered is settled
later, with the other runs created into the same experiment (`Settlement`: one listing of the
experiment, or one search per run when that is fewer requests), so that the duplicate search is no
longer a request in each run's chain; the executor starts it once every run of the chunk is past its
create, beside the last runs' writes. If the process dies before it settles, the planner
(`split_copies`) finds the extra copies on the next pass and the executor retires them then.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable

from mlflow.entities import RunTag, ViewType
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call, pages
from syncer.backends.classify import classify
from syncer.core.errors import Kind
from syncer.core.metric_points import missing_points
from syncer.core.snapshot import (
    TAG_DUPLICATE_OF,
    TAG_RETIRED,
    TAG_SOURCE_EXPERIMENT_ID,
    TAG_SOURCE_RUN_ID,
    retired,
)
from syncer.core.windows import Window, window_filter


def retire(ctx, run_id: str, keep: str) -> None:
    """Mark a duplicate copy as such (so it is never taken for the copy again), then delete it."""
    ctx.guard()
    client = ctx.dst.client
    call(ctx.dst, "set_tag", lambda: client.set_tag(run_id, TAG_DUPLICATE_OF, keep))
    call(ctx.dst, "delete_run", lambda: client.delete_run(run_id))


def set_aside(ctx, run_id: str, why: str) -> None:
    """Retire an incomplete copy that cannot be completed: tag it with why (so it is never taken for
    the copy again, even before its deletion lands), then delete it (soft: it can be restored)."""
    ctx.guard()
    client = ctx.dst.client
    call(ctx.dst, "set_tag", lambda: client.set_tag(run_id, TAG_RETIRED, why))
    call(ctx.dst, "delete_run", lambda: client.delete_run(run_id))


def live_copies(ctx, dest_exp_id: str, source_run_id: str) -> list[str]:
    """Ids of the live, unmarked destination runs carrying this source run id, oldest id first."""
    query = f"tags.{TAG_SOURCE_RUN_ID} = '{source_run_id}'"
    runs = call(
        ctx.dst,
        "search_runs",
        lambda: ctx.dst.client.search_runs(
            [dest_exp_id], filter_string=query, run_view_type=ViewType.ACTIVE_ONLY, max_results=100
        ),
    )
    return sorted(r.info.run_id for r in runs if not retired(r.data.tags))


def settle_created_run(
    ctx, dest_exp_id: str, source_run_id: str, created: str | None, error: BaseException | None
) -> str:
    """After a create_run (answered or not), keep exactly one copy and return its id."""
    copies = live_copies(ctx, dest_exp_id, source_run_id)
    if not copies:
        if error is not None:
            raise error
        return created  # type: ignore[return-value]
    keep = created if created in copies else copies[0]
    for run_id in copies:
        if run_id != keep:
            retire(ctx, run_id, keep)
    return keep


def create_run_once(
    ctx,
    dest_exp_id: str,
    source_run_id: str,
    create,
    later: Settlement | None = None,
    start_time: int | None = None,
) -> tuple[str, str]:
    """Create a destination run through `create` (returns a Run) and settle duplicates: (id,
    artifact uri).

    With `later`, an answered create is settled there (once every run is past its create) instead of
    now.
    """
    created, error = None, None
    try:
        created = call(ctx.dst, "create_run", create)
    except Exception as exc:
        if classify(exc) is not Kind.TRANSIENT:
            raise
        error = exc
    if created is not None and later is not None:
        later.add(dest_exp_id, source_run_id, created.info.run_id, start_time)
        return created.info.run_id, created.info.artifact_uri
    keep = settle_created_run(
        ctx, dest_exp_id, source_run_id, created.info.run_id if created else None, error
    )
    if created is not None and created.info.run_id == keep:
        return keep, created.info.artifact_uri
    run = call(ctx.dst, "get_run", lambda: ctx.dst.client.get_run(keep))
    return keep, run.info.artifact_uri


def create_run_at(client, experiment_id: str, start_time: int | None, tags: dict, run_name):
    """`client.create_run` keeping the start time given, 0 included: MLflow's client takes a start
    time of 0 (what its API answers for a run logged without one) for none and gives the run the
    current time, which would move the copy out of its source's start-time range and window."""
    if start_time:
        return client.create_run(experiment_id, start_time=start_time, tags=tags, run_name=run_name)
    return client._tracking_client.store.create_run(
        experiment_id=experiment_id,
        user_id=tags.get("mlflow.user", "unknown"),  # as MlflowClient.create_run sets it
        start_time=0,
        tags=[RunTag(k, v) for k, v in tags.items()],
        run_name=run_name,
    )


def create_experiment_once(ctx, name: str, source_id: str, create) -> str:
    """Create a destination experiment; if a lost answer made the retry fail, take the one we
    made."""
    try:
        return call(ctx.dst, "create_experiment", create)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        existing = call(
            ctx.dst, "get_experiment_by_name", lambda: ctx.dst.client.get_experiment_by_name(name)
        )
        if existing is None or existing.tags.get(TAG_SOURCE_EXPERIMENT_ID) != source_id:
            raise
        return existing.experiment_id


def log_batch_once(ctx, run_id: str, metrics: list, params: list, tags: list) -> None:
    """log_batch; if it is refused because part of it is already there, send only the missing
    points.

    A retried log_batch whose first answer was lost is refused by MLflow's SQL store when the batch
    holds a NaN point (NaN never equals itself, so the store re-inserts it and hits its unique key).
    """
    client = ctx.dst.client

    def send(points: list) -> None:
        call(
            ctx.dst,
            "log_batch",
            lambda: client.log_batch(
                run_id, metrics=points, params=params, tags=tags, synchronous=True
            ),
        )

    try:
        send(metrics)
        return
    except Exception as exc:
        if classify(exc) is not Kind.TERMINAL or not metrics:
            raise
        refused = exc
    missing = []
    for key in sorted({m.key for m in metrics}):
        present = call(
            ctx.dst, "get_metric_history", lambda key=key: client.get_metric_history(run_id, key)
        )
        missing += missing_points(
            [m for m in metrics if m.key == key], present, ctx.dst.caps.collapses_duplicate_points
        )
    if len(missing) == len(metrics):
        raise refused
    send(missing)


class Settlement:
    """Destination runs created by answered creates, to be checked for duplicates together, per
    experiment.

    A create whose answer was lost and that MLflow's HTTP layer (or ours) sent again leaves a
    second, empty copy carrying the same source run id. `settle` finds such copies and retires them,
    keeping the run that was answered (the one that was filled). Until then the extra copy is only
    an incomplete copy, which the planner retires on a later pass if this process dies first.
    """

    def __init__(self) -> None:
        self.created: dict[str, dict[str, str]] = defaultdict(
            dict
        )  # dest experiment -> source id -> dest id
        self.spans: dict[
            str, Window | None
        ] = {}  # dest experiment -> the created runs' start times [lo, hi)
        self.lock = threading.Lock()
        self.waiting: set[str] = (
            set()
        )  # runs whose create may still be answered (`expect`, `answered`)

    def expect(self, source_run_ids: Iterable[str]) -> None:
        """The runs about to be applied: `answered` tells when every one is past its create."""
        with self.lock:
            self.waiting = set(source_run_ids)

    def answered(self, source_run_id: str) -> bool:
        """One run is past its create (answered, failed, or none needed). True once, for the
        last."""
        with self.lock:
            if source_run_id not in self.waiting:
                return False
            self.waiting.discard(source_run_id)
            return not self.waiting

    def add(
        self, dest_exp_id: str, source_run_id: str, dest_run_id: str, start_time: int | None = None
    ) -> None:
        """Remember one answered create (of a run created with that start time)."""
        with self.lock:
            self.created[dest_exp_id][source_run_id] = dest_run_id
            span = self.spans.get(dest_exp_id, (start_time, start_time))
            self.spans[dest_exp_id] = (
                None
                if span is None or start_time is None or span[0] is None
                else (min(span[0], start_time), max(span[1], start_time + 1))
            )

    def settle(self, ctx) -> dict[str, str]:
        """Retire the duplicates of every remembered run. Returns source run id -> why its check
        failed."""
        failed: dict[str, str] = {}
        with self.lock:
            todo, self.created = dict(self.created), defaultdict(dict)
            spans, self.spans = self.spans, {}
        for dest_exp_id, made in sorted(todo.items()):
            try:
                _settle_experiment(ctx, dest_exp_id, made, spans.get(dest_exp_id))
            except Exception as exc:  # reported per run by the caller
                failed.update(
                    {source_id: f"duplicate check after create failed: {exc}" for source_id in made}
                )
        return failed


def _settle_experiment(
    ctx, dest_exp_id: str, made: dict[str, str], span: Window | None = None
) -> None:
    """Retire every live copy of the `made` runs (source id -> kept dest id) other than the kept
    one. A copy keeps its create's start time: where the destination filters on it, only the made
    runs' span is listed."""
    known = sum(1 for r in ctx.dst_snap.runs.values() if r.experiment_id == dest_exp_id)
    page = max(1, ctx.dst.caps.search_page_size)
    if math.ceil((known + len(made)) / page) < len(made):
        copies = _copies_in(ctx, dest_exp_id, page, span if ctx.dst.caps.run_windows else None)
    else:
        copies = {source_id: live_copies(ctx, dest_exp_id, source_id) for source_id in sorted(made)}
    for source_id, keep in sorted(made.items()):
        for run_id in copies.get(source_id, []):
            if run_id != keep:
                retire(ctx, run_id, keep)


def _copies_in(ctx, dest_exp_id: str, page: int, span: Window | None) -> dict[str, list[str]]:
    """Source run id -> live, unmarked copies, over every run of a destination experiment that
    started within the span (None: every run), paged."""
    client = ctx.dst.client
    out: dict[str, list[str]] = defaultdict(list)
    query = window_filter(span) if span is not None else ""
    for run in pages(
        ctx.dst,
        "search_runs",
        lambda token: client.search_runs(
            [dest_exp_id],
            filter_string=query,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=page,
            page_token=token,
        ),
    ):
        source_id = run.data.tags.get(TAG_SOURCE_RUN_ID)
        if source_id and not retired(run.data.tags):
            out[source_id].append(run.info.run_id)
    return out
