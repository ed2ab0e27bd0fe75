"""Databricks-like evaluation dataset listing: `GET /api/2.0/managed-evals/datasets`, the one
dataset call MLflow's Databricks store makes (mlflow/store/tracking/databricks_rest_store.py
`search_datasets`: one experiment per request, `filter=experiment_id='<id>'`, `page_size`,
`page_token`), answered from the real server's datasets.

On Databricks evaluation datasets are Unity Catalog tables; the listing answers their id, name,
digest and ISO 8601 times, as MLflow's client parses them. Not emulated: everything else of the
managed-evals API (dataset records, tags, creation), the Unity Catalog tables themselves, filters
other than one experiment id.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import parse_qs

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

PATH = "/api/2.0/managed-evals/datasets"
EXPERIMENT = re.compile(r"^\s*experiment_id\s*=\s*'(?P<id>[^']+)'\s*$")


def _iso(ms: int | str | None) -> str:
    return (
        datetime.fromtimestamp(int(ms or 0) / 1000, tz=timezone.utc)
        .isoformat()
        .replace("+00:00", "Z")
    )


class ManagedEvalsDatasets(Rules):
    """List the real server's evaluation datasets of one experiment as Databricks' managed-evals API
    does."""

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(PATH):
            return None
        if req.path != PATH or req.method != "GET":
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        params = {k: v[0] for k, v in parse_qs(req.query).items()}
        m = EXPERIMENT.match(params.get("filter", ""))
        if m is None:
            return error(400, "INVALID_PARAMETER_VALUE", "filter experiment_id='<id>' is required")
        body = {
            "experiment_ids": [m["id"]],
            "max_results": int(params.get("page_size") or 100),
            **({"page_token": params["page_token"]} if params.get("page_token") else {}),
        }
        r = gateway.session().post(
            f"{gateway.upstream}/api/3.0/mlflow/datasets/search", json=body, timeout=60
        )
        found = r.json() if r.content else {}
        if r.status_code != 200:
            return Reply(r.status_code, found)
        datasets = [
            {
                "dataset_id": d["dataset_id"],
                "name": d["name"],
                "digest": d.get("digest", ""),
                "create_time": _iso(d.get("created_time")),
                "last_update_time": _iso(d.get("last_update_time")),
            }
            for d in found.get("datasets", [])
        ]
        token = found.get("next_page_token")
        return Reply(200, {"datasets": datasets, **({"next_page_token": token} if token else {})})
