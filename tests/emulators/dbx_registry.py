"""The Databricks workspace registry's own copy of each version's files
(`dbfs:/databricks/mlflow-registry/`).

`model-versions/get-download-uri` answers `dbfs:/databricks/mlflow-registry/<version
id>/models/<name>`, which neither the DBFS API nor the Files API reads (both answer 404 here: not
offered); the files are listed by `model-versions/list-artifacts` (paged, `registry_page` files a
page) and read through one URL per file from `model-versions/get-signed-download-uri`
({"signed_uri", "headers"}), the API MLflow's DatabricksModelsArtifactRepository calls
(mlflow/store/artifact/databricks_models_artifact_repo.py, both constants marked
"@developer_stable"). Here the files are those of the version's source in the real server's storage,
read through SAS URLs.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

from azure.storage.blob import BlobPrefix, ContainerClient

from tests.emulators.dbfs import DbfsArtifacts
from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

MV = "/api/2.0/mlflow/model-versions/"
REGISTRY = "dbfs:/databricks/mlflow-registry/"


class RegistryFiles(Rules):
    """Answer the workspace registry's file APIs from the version source's blobs (place after
    DbfsArtifacts)."""

    def __init__(self, dbfs: DbfsArtifacts) -> None:
        self.dbfs = dbfs
        self.registry_page = 1000

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.method != "GET" or not req.path.startswith(MV):
            return None
        op = req.path.removeprefix(MV)
        if op not in ("get-download-uri", "list-artifacts", "get-signed-download-uri"):
            return None
        params = {k: v[0] for k, v in parse_qs(req.query).items()}
        answer = gateway.session().get(
            f"{gateway.upstream}{MV}get-download-uri",
            timeout=60,
            params={"name": params.get("name"), "version": params.get("version")},
        )
        if answer.status_code != 200:
            return Reply(answer.status_code, answer.json())
        base = self.resolved(answer.json()["artifact_uri"], gateway)
        if not base.startswith(self.dbfs.root):
            return None  # not a run's files (a logged model's): as the server says
        gateway.count(f"registry {op}")
        if op == "get-download-uri":
            vid = hashlib.sha1(f"{params['name']}/{params['version']}".encode()).hexdigest()[:32]
            return Reply(200, {"artifact_uri": f"{REGISTRY}{vid}/models/{params['name']}"})
        path = params.get("path", "").strip("/")
        if op == "get-signed-download-uri":
            return Reply(
                200, {"signed_uri": self.dbfs.credential(base, path)["signed_uri"], "headers": []}
            )
        return self.listing(base, path, int(params.get("page_token") or 0))

    @staticmethod
    def resolved(uri: str, gateway: Gateway) -> str:
        """A `runs:/<run id>/<path>` source as the blob location of the run's folder."""
        if not uri.startswith("runs:/"):
            return uri
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        run = gateway.upstream_json("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})
        return f"{run['run']['info']['artifact_uri'].rstrip('/')}/{path}".rstrip("/")

    def listing(self, base: str, path: str, start: int) -> Reply:
        d = self.dbfs
        container = ContainerClient(
            d.blob_endpoint,
            d.container,
            credential={"account_name": d.account, "account_key": d.key},
        )
        prefix = d.blob_name(base, path) + "/"
        root = d.blob_name(base, "") + "/"
        files = [
            {
                "path": b.name.removeprefix(root).rstrip("/"),
                "is_dir": isinstance(b, BlobPrefix),
                **({} if isinstance(b, BlobPrefix) else {"file_size": b.size}),
            }
            for b in container.walk_blobs(name_starts_with=prefix, delimiter="/")
        ]
        if not files and path:
            return error(404, "RESOURCE_DOES_NOT_EXIST", f"No file or directory at {path}")
        page = files[start : start + self.registry_page]
        more = start + len(page) < len(files)
        return Reply(
            200, {"files": page, **({"next_page_token": str(start + len(page))} if more else {})}
        )
