"""Reading and writing MLflow 3 logged models and evaluation datasets of one endpoint, as plain
data.

Every call goes through `calls.call`. Dataset records and experiment links are read through the
endpoint's own tracking store: MLflow's `EvaluationDataset.records` and `merge_records` use the
process-wide tracking URI, which is neither end of a sync.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import structlog
from mlflow.entities import LoggedModel, Metric
from mlflow.entities.evaluation_dataset import EvaluationDataset
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call, pages
from syncer.backends.endpoint import Endpoint
from syncer.core.dataset_snapshot import DatasetSnap, RecordSnap
from syncer.core.kinds import plural
from syncer.core.model_snapshot import SERVER_LOGGED_MODEL_TAGS, LoggedMetric, LoggedModelSnap

RECORD_PAGE = 1000
EXPERIMENTS_PER_SEARCH = 100
log = structlog.get_logger("syncer.mlflow3")


def optional_api(endpoint: Endpoint, kind: str, capable: bool, read: Callable[[], dict]) -> dict:
    """`read()`, or nothing when the end does not serve the API of `kind` (by its capabilities: not
    asked, the plan's note or the destination's record says why; or because it answers that the
    endpoint does not exist: logged, naming the kind in words): such an end holds no object of that
    kind."""
    if not capable:
        return {}
    try:
        return read()
    except MlflowException as exc:
        if exc.error_code != "ENDPOINT_NOT_FOUND":
            raise
    log.warning(
        f"{plural(kind)} not read: the {endpoint.role} has no API for them",
        kind=kind,
        endpoint=endpoint.identity,
    )
    return {}


def batches(ids: Iterable[str], size: int = EXPERIMENTS_PER_SEARCH) -> Iterator[list[str]]:
    """`ids` in lists of at most `size`."""
    ids = sorted(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def logged_model_snap(lm: LoggedModel) -> LoggedModelSnap:
    """A logged model as plain data (server-kept tags left out)."""
    metrics = tuple(
        LoggedMetric(
            key=m.key,
            value=m.value,
            timestamp=m.timestamp,
            step=m.step,
            run_id=m.run_id,
            dataset_name=m.dataset_name,
            dataset_digest=m.dataset_digest,
        )
        for m in (lm.metrics or [])
    )
    return LoggedModelSnap(
        model_id=lm.model_id,
        experiment_id=str(lm.experiment_id),
        name=lm.name,
        artifact_location=lm.artifact_location,
        source_run_id=lm.source_run_id or None,
        model_type=lm.model_type or None,
        tags={k: v for k, v in (lm.tags or {}).items() if k not in SERVER_LOGGED_MODEL_TAGS},
        params=dict(lm.params or {}),
        status=getattr(lm.status, "value", str(lm.status)),
        metrics=metrics,
    )


def read_logged_model(endpoint: Endpoint, model_id: str) -> LoggedModelSnap:
    """One logged model, read by its id."""
    return logged_model_snap(
        call(endpoint, "get_logged_model", lambda: endpoint.client.get_logged_model(model_id))
    )


def search_logged_models(
    endpoint: Endpoint, experiment_ids: Iterable[str], filter_string: str | None = None
) -> Iterator[LoggedModelSnap]:
    """Every logged model of the experiments (paged, a batch of experiments per search)."""
    client = endpoint.client
    for batch in batches(experiment_ids):
        for lm in pages(
            endpoint,
            "search_logged_models",
            lambda t, b=batch: client.search_logged_models(
                b,
                filter_string=filter_string,
                max_results=endpoint.caps.search_page_size,
                page_token=t,
            ),
        ):
            yield logged_model_snap(lm)


def log_model_metrics(
    endpoint: Endpoint, model_id: str, points: list[tuple[str, LoggedMetric]]
) -> None:
    """Log metric points (destination run id, point) to a logged model, a batch per run."""
    by_run: dict[str, list[Metric]] = {}
    for run_id, m in points:
        by_run.setdefault(run_id, []).append(
            Metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                model_id=model_id,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
            )
        )
    size = endpoint.caps.batch_metrics
    for run_id, metrics in sorted(by_run.items()):
        for start in range(0, len(metrics), size):
            chunk = metrics[start : start + size]
            call(
                endpoint,
                "log_batch",
                lambda r=run_id, c=chunk: endpoint.client.log_batch(r, metrics=c),
            )


def dataset_snap(ds: EvaluationDataset, experiment_ids: Iterable[str] = ()) -> DatasetSnap:
    """An evaluation dataset as plain data."""
    return DatasetSnap(
        dataset_id=ds.dataset_id,
        name=ds.name,
        last_update_time=int(ds.last_update_time or 0),
        tags=dict(ds.tags or {}),
        experiment_ids=tuple(sorted(str(e) for e in experiment_ids)),
        schema=ds.schema,
        profile=ds.profile,
    )


def search_datasets(
    endpoint: Endpoint, experiment_ids: Iterable[str] | None = None
) -> Iterator[EvaluationDataset]:
    """Every dataset linked to one of the experiments (every dataset of the end when None),
    paged."""
    client = endpoint.client
    for batch in batches(experiment_ids) if experiment_ids is not None else [None]:
        yield from pages(
            endpoint,
            "search_datasets",
            lambda t, b=batch: client.search_datasets(
                experiment_ids=b, max_results=RECORD_PAGE, page_token=t
            ),
        )


def _store(endpoint: Endpoint):
    return endpoint.client._tracking_client.store  # see the module docstring


def dataset_experiments(endpoint: Endpoint, dataset_id: str) -> list[str]:
    """The ids of the experiments a dataset is linked to."""
    return [
        str(e)
        for e in call(
            endpoint,
            "get_dataset_experiment_ids",
            lambda: _store(endpoint).get_dataset_experiment_ids(dataset_id),
        )
    ]


def _record_snap(record) -> RecordSnap:
    source = record.source.to_dict() if record.source is not None else None
    return RecordSnap(
        inputs=record.inputs,
        outputs=record.outputs,
        expectations=record.expectations or None,
        tags=record.tags or None,
        source=source,
    )


def dataset_records(endpoint: Endpoint, dataset_id: str) -> list[tuple[str, RecordSnap]]:
    """Every record of a dataset, as (record id, record), page by page."""
    store = _store(endpoint)
    out: list[tuple[str, RecordSnap]] = []
    token = None
    while True:
        records, token = call(
            endpoint,
            "get_dataset_records",
            lambda t=token: store._load_dataset_records(
                dataset_id, max_results=RECORD_PAGE, page_token=t
            ),
        )
        out.extend((r.dataset_record_id, _record_snap(r)) for r in records)
        if not token:
            return out


def upsert_records(endpoint: Endpoint, dataset_id: str, records: list[RecordSnap]) -> None:
    """Insert or update records (matched by their inputs), a page at a time."""
    store = _store(endpoint)
    for start in range(0, len(records), RECORD_PAGE):
        chunk = [r.as_upsert() for r in records[start : start + RECORD_PAGE]]
        call(
            endpoint,
            "upsert_dataset_records",
            lambda c=chunk: store.upsert_dataset_records(dataset_id, c),
        )


def delete_records(endpoint: Endpoint, dataset_id: str, record_ids: list[str]) -> None:
    """Delete records by their ids."""
    store = _store(endpoint)
    for start in range(0, len(record_ids), RECORD_PAGE):
        chunk = record_ids[start : start + RECORD_PAGE]
        call(
            endpoint,
            "delete_dataset_records",
            lambda c=chunk: store.delete_dataset_records(dataset_id, c),
        )
