"""MLflow's `mlflow.log-model.history` run tag (the models a run logged; the UI shows from it which
runs logged a model), copied with the run ids it names remapped to the copy's."""

from __future__ import annotations

import json

HISTORY_TAG = "mlflow.log-model.history"


def remapped(value: str, source_run_id: str, dest_run_id: str) -> str | None:
    """The tag's value with `source_run_id` replaced by `dest_run_id`; None when it is no JSON
    list."""
    try:
        entries = json.loads(value)
    except ValueError:
        return None
    if not isinstance(entries, list):
        return None
    return json.dumps(
        [
            {**e, "run_id": dest_run_id}
            if isinstance(e, dict) and e.get("run_id") == source_run_id
            else e
            for e in entries
        ]
    )
