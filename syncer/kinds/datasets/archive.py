"""The evaluation-dataset archiver: one dataset with its records, for `unsupported: archive` and
`restore`.

Document: name, user tags, experiment links (by experiment name) and every record (inputs, outputs,
expectations, tags, source). Schema and profile are left to the destination server, which computes
them from the records. Restore finds the copy by `mlflow_syncer.source_dataset_id` (the tag a
migration sets too) among the destination's datasets, or creates it linked to the experiments of
those names (created if missing), then adds the missing links and tags and upserts the records it
lacks (MLflow matches records by their inputs): a second restore creates nothing. Finding the copy
reads the destination's dataset list once per dataset.
"""

from __future__ import annotations

from dataclasses import asdict

from syncer.apply.archive import dest_experiment
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.archive import Archiver, register
from syncer.core.snapshot import TAG_SOURCE, user_tags
from syncer.kinds.datasets.api import (
    dataset_experiments,
    dataset_records,
    search_datasets,
    upsert_records,
)
from syncer.kinds.datasets.snapshot import TAG_SOURCE_DATASET, RecordSnap

KIND = "dataset"


def dataset_ids(src: Endpoint, experiment_id: str | None) -> list[str]:
    """The datasets linked to one source experiment (None: every dataset of the source)."""
    found = search_datasets(src, [experiment_id] if experiment_id else None)
    return list(dict.fromkeys(ds.dataset_id for ds in found))


def export_dataset(src: Endpoint, dataset_id: str) -> dict:
    """One dataset with its records, as plain data (see the module docstring)."""
    ds = call(src, "get_dataset", lambda: src.client.get_dataset(dataset_id))
    names = [
        call(src, "get_experiment", lambda i=i: src.client.get_experiment(i)).name
        for i in dataset_experiments(src, dataset_id)
    ]
    return {
        "dataset_id": dataset_id,
        "name": ds.name,
        "source": src.identity,
        "tags": user_tags(ds.tags or {}),
        "experiments": sorted(names),
        "records": [asdict(r) for _id, r in dataset_records(src, dataset_id)],
    }


def _find(dst: Endpoint, source_id: str) -> str | None:
    for ds in search_datasets(dst):
        if (ds.tags or {}).get(TAG_SOURCE_DATASET) == source_id:
            return ds.dataset_id
    return None


def restore_dataset(dst: Endpoint, doc: dict, experiment_id: str | None) -> str:  # linked by name
    """Find or create the copy, then its missing links, tags and records (see the module
    docstring)."""
    client, cache = dst.client, {}
    experiments = sorted(
        {e for e in (dest_experiment(dst, n, cache) for n in doc["experiments"]) if e}
    )
    tags = {**doc["tags"], TAG_SOURCE_DATASET: doc["dataset_id"], TAG_SOURCE: doc["source"]}
    dest_id = _find(dst, doc["dataset_id"])
    if dest_id is None:
        dest_id = call(
            dst,
            "create_dataset",
            lambda: client.create_dataset(doc["name"], experiment_id=experiments, tags=tags),
        ).dataset_id
    else:
        missing = sorted(set(experiments) - set(dataset_experiments(dst, dest_id)))
        if missing:
            call(
                dst,
                "add_dataset_to_experiments",
                lambda: client.add_dataset_to_experiments(dest_id, missing),
            )
        have = call(dst, "get_dataset", lambda: client.get_dataset(dest_id)).tags or {}
        changed = {k: v for k, v in tags.items() if have.get(k) != v}
        if changed:
            call(dst, "set_dataset_tags", lambda: client.set_dataset_tags(dest_id, changed))
    want = [RecordSnap(**r) for r in doc["records"]]
    have_records = {r.key: r.content for _id, r in dataset_records(dst, dest_id)}
    upsert_records(dst, dest_id, [r for r in want if have_records.get(r.key) != r.content])
    return dest_id


ARCHIVER = Archiver(KIND, list_ids=dataset_ids, export=export_dataset, restore=restore_dataset)
register(ARCHIVER)
