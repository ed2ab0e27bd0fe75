"""Read the logged models of the selected experiments on both sides (`Snapshot.parts`).

One paged `search_logged_models` per batch of experiments on each side: a logged model's tags,
params and metrics come with it, so an idle pass reads nothing per model. Destination logged models
are kept only when they carry the provenance tag, grouped by the source model id they copy.
"""

from __future__ import annotations

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.mlflow3 import optional_api
from syncer.core.capabilities import supports
from syncer.core.snapshot import Snapshot
from syncer.kinds.logged_models.api import search_logged_models
from syncer.kinds.logged_models.capabilities import KIND
from syncer.kinds.logged_models.snapshot import TAG_SOURCE_MODEL_ID, LoggedModelSnap


def scan_source_logged_models(endpoint: Endpoint, snap: Snapshot) -> dict[str, LoggedModelSnap]:
    """Every logged model of the experiments in `snap`, by model id."""
    return optional_api(
        endpoint,
        "logged_model",
        supports(endpoint.caps, KIND),
        lambda: {lm.model_id: lm for lm in search_logged_models(endpoint, snap.experiments)},
    )


def scan_dest_logged_models(
    endpoint: Endpoint, snap: Snapshot, files_experiment: str
) -> dict[str, list[LoggedModelSnap]]:
    """The copies among the logged models of the experiments in `snap` and of the model-files
    experiment (where the logged model of a version is copied when its experiment is not), by the
    source model id."""
    experiments = set(snap.experiments)
    files = call(
        endpoint,
        "get_experiment_by_name",
        lambda: endpoint.client.get_experiment_by_name(files_experiment),
    )
    if files is not None:
        experiments.add(files.experiment_id)
    copies: dict[str, list[LoggedModelSnap]] = {}
    for lm in search_logged_models(endpoint, experiments):
        source_id = lm.tags.get(TAG_SOURCE_MODEL_ID)
        if source_id:
            copies.setdefault(source_id, []).append(lm)
    return copies
