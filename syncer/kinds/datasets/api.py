"""Reading and writing MLflow 3 evaluation datasets of one endpoint, as plain data.

Every call goes through `calls.call`. Dataset records and experiment links are read through the
endpoint's own tracking store: MLflow's `EvaluationDataset.records` and `merge_records` use the
process-wide tracking URI, which is neither end of a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mlflow.entities.evaluation_dataset import EvaluationDataset

from syncer.backends.calls import call, pages
from syncer.backends.endpoint import Endpoint
from syncer.backends.mlflow3 import batches
from syncer.kinds.datasets.snapshot import DatasetSnap, RecordSnap

RECORD_PAGE = 1000


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
