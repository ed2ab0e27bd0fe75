"""Keep every copy single when a create was applied but its answer was lost.

Creates are not idempotent: when a `create_run` or `create_experiment` reaches the server but the
answer does not come back (connection reset, 5xx after the write), MLflow's HTTP layer or ours sends it
again and the server creates a second object. Runs are settled right after creation: every live copy
carrying the source run id is found by its provenance tag, one is kept and the others are retired
(tagged `mlflow_syncer.duplicate_of` and deleted). If the process dies before it settles, the planner
(`split_copies`) finds the extra copies on the next pass and the executor retires them then.
"""

from __future__ import annotations

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call
from syncer.backends.classify import classify
from syncer.core.errors import Kind
from syncer.core.metric_points import missing_points
from syncer.core.snapshot import TAG_DUPLICATE_OF, TAG_SOURCE_EXPERIMENT_ID, TAG_SOURCE_RUN_ID


def retire(ctx, run_id: str, keep: str) -> None:  # noqa: ANN001
    """Mark a duplicate copy as such (so it is never taken for the copy again), then delete it."""
    ctx.guard()
    client = ctx.dst.client
    call(ctx.dst, "set_tag", lambda: client.set_tag(run_id, TAG_DUPLICATE_OF, keep))
    call(ctx.dst, "delete_run", lambda: client.delete_run(run_id))


def live_copies(ctx, dest_exp_id: str, source_run_id: str) -> list[str]:  # noqa: ANN001
    """Ids of the live, unmarked destination runs carrying this source run id, oldest id first."""
    query = f"tags.`{TAG_SOURCE_RUN_ID}` = '{source_run_id}'"
    runs = call(ctx.dst, "search_runs", lambda: ctx.dst.client.search_runs(
        [dest_exp_id], filter_string=query, run_view_type=ViewType.ACTIVE_ONLY, max_results=100))
    return sorted(r.info.run_id for r in runs if TAG_DUPLICATE_OF not in r.data.tags)


def settle_created_run(ctx, dest_exp_id: str, source_run_id: str, created: str | None,  # noqa: ANN001
                       error: BaseException | None) -> str:
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


def create_run_once(ctx, dest_exp_id: str, source_run_id: str, create) -> tuple[str, str]:  # noqa: ANN001
    """Create a destination run through `create` (returns a Run) and settle duplicates: (id, artifact uri)."""
    created, error = None, None
    try:
        created = call(ctx.dst, "create_run", create)
    except Exception as exc:  # noqa: BLE001
        if classify(exc) is not Kind.TRANSIENT:
            raise
        error = exc
    keep = settle_created_run(ctx, dest_exp_id, source_run_id, created.info.run_id if created else None, error)
    if created is not None and created.info.run_id == keep:
        return keep, created.info.artifact_uri
    run = call(ctx.dst, "get_run", lambda: ctx.dst.client.get_run(keep))
    return keep, run.info.artifact_uri


def create_experiment_once(ctx, name: str, source_id: str, create) -> str:  # noqa: ANN001
    """Create a destination experiment; if a lost answer made the retry fail, take the one we made."""
    try:
        return call(ctx.dst, "create_experiment", create)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        existing = call(ctx.dst, "get_experiment_by_name", lambda: ctx.dst.client.get_experiment_by_name(name))
        if existing is None or existing.tags.get(TAG_SOURCE_EXPERIMENT_ID) != source_id:
            raise
        return existing.experiment_id


def log_batch_once(ctx, run_id: str, metrics: list, params: list, tags: list) -> None:  # noqa: ANN001
    """log_batch; if it is refused because part of it is already there, send only the missing points.

    A retried log_batch whose first answer was lost is refused by MLflow's SQL store when the batch holds a
    NaN point (NaN never equals itself, so the store re-inserts it and hits its unique key).
    """
    client = ctx.dst.client

    def send(points: list) -> None:
        call(ctx.dst, "log_batch", lambda: client.log_batch(
            run_id, metrics=points, params=params, tags=tags, synchronous=True))

    try:
        send(metrics)
        return
    except Exception as exc:  # noqa: BLE001
        if classify(exc) is not Kind.TERMINAL or not metrics:
            raise
        refused = exc
    missing = []
    for key in sorted({m.key for m in metrics}):
        present = call(ctx.dst, "get_metric_history", lambda key=key: client.get_metric_history(run_id, key))
        missing += missing_points([m for m in metrics if m.key == key], present)
    if len(missing) == len(metrics):
        raise refused
    send(missing)
