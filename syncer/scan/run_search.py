"""Paged run searches of one endpoint, read into plain data (`RunSnap`): no per-run call."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mlflow.entities import Run, ViewType

from syncer.backends.calls import pages
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import DatasetRef, RunSnap

EXPERIMENT_IDS_PER_SEARCH = 100
Refused = Callable[[str, Exception], None]  # (experiment or run id, the refusal): runs unread


def run_snap(run: Run) -> RunSnap:
    """Convert an MLflow Run (as returned by search_runs) into plain data."""
    info, data = run.info, run.data
    latest = {m.key: (m.value, m.timestamp, m.step) for m in data._metric_objs}
    inputs = tuple(
        DatasetRef(
            name=d.dataset.name,
            digest=d.dataset.digest,
            source_type=d.dataset.source_type,
            source=d.dataset.source,
            schema=d.dataset.schema,
            profile=d.dataset.profile,
            tags=tuple(sorted((t.key, t.value) for t in d.tags)),
        )
        for d in (run.inputs.dataset_inputs if run.inputs else [])
    )
    return RunSnap(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        name=info.run_name or "",
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        lifecycle_stage=info.lifecycle_stage,
        artifact_uri=info.artifact_uri,
        params=dict(data.params),
        tags=dict(data.tags),
        metrics=latest,
        inputs=inputs,
    )


def view(include_deleted: bool) -> int:
    return ViewType.ALL if include_deleted else ViewType.ACTIVE_ONLY


def iter_runs(endpoint: Endpoint, experiment_ids: list[str], view: int) -> Iterator[Run]:
    """Page through every run of the given experiments."""
    for i in range(0, len(experiment_ids), EXPERIMENT_IDS_PER_SEARCH):
        yield from search_all(endpoint, experiment_ids[i : i + EXPERIMENT_IDS_PER_SEARCH], view, "")


def runs_of(
    endpoint: Endpoint, experiment_ids: list[str], include_deleted: bool = False
) -> list[RunSnap]:
    """Every run of the given experiments, as plain data."""
    return [run_snap(r) for r in iter_runs(endpoint, experiment_ids, view(include_deleted))]


def search_all(
    endpoint: Endpoint,
    ids: list[str],
    view: int,
    filter_string: str,
    order_by: list[str] | None = None,
) -> Iterator[Run]:
    """Every run of `ids` matching `filter_string`, page by page (`order_by`: MLflow's)."""
    return pages(
        endpoint,
        "search_runs",
        lambda t: endpoint.client.search_runs(
            ids,
            filter_string=filter_string,
            run_view_type=view,
            max_results=endpoint.caps.search_page_size,
            order_by=order_by,
            page_token=t,
        ),
    )
