"""Read the evaluation datasets of the selected experiments on both sides (`Snapshot.parts`).

Source: one paged `search_datasets` per batch of selected experiments, then each dataset's
experiment links (one call per dataset). Records are not read here: the source's `last_update_time`
changes with every record written, so the plan compares it (through the fingerprint marker) instead.
Destination: every dataset that carries the provenance tag, grouped by the source dataset id it
copies.
"""

from __future__ import annotations

from syncer.backends.endpoint import Endpoint
from syncer.backends.mlflow3 import optional_api
from syncer.core.capabilities import supports
from syncer.core.snapshot import Snapshot
from syncer.kinds.datasets.api import dataset_experiments, dataset_snap, search_datasets
from syncer.kinds.datasets.capabilities import KIND
from syncer.kinds.datasets.snapshot import TAG_SOURCE_DATASET, DatasetSnap


def scan_source_datasets(endpoint: Endpoint, snap: Snapshot) -> dict[str, DatasetSnap]:
    """Every dataset linked to an experiment in `snap`, with all its experiment links, by dataset
    id."""

    def read() -> dict[str, DatasetSnap]:
        found: dict[str, DatasetSnap] = {}
        for ds in search_datasets(endpoint, snap.experiments):
            if ds.dataset_id not in found:
                found[ds.dataset_id] = dataset_snap(
                    ds, dataset_experiments(endpoint, ds.dataset_id)
                )
        return found

    return optional_api(endpoint, "dataset", supports(endpoint.caps, KIND), read)


def scan_dest_datasets(endpoint: Endpoint) -> dict[str, list[DatasetSnap]]:
    """The destination's copies of source datasets, by the source dataset id they copy."""
    copies: dict[str, list[DatasetSnap]] = {}
    for ds in search_datasets(endpoint):
        source_id = (ds.tags or {}).get(TAG_SOURCE_DATASET)
        if source_id:
            copies.setdefault(source_id, []).append(dataset_snap(ds))
    return copies
