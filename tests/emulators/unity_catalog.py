"""Unity-Catalog-like rules, READ side: the legacy `/api/2.0/mlflow/unity-catalog/` registry API
that MLflow's `databricks-uc` store calls (mlflow/store/_unity_catalog/registry/rest_store.py),
answered from the OSS registry of the real server behind the gateway, plus temporary read
credentials for each version's storage location as an Azure user-delegation-SAS-like token (a
container SAS of Azurite).

One server holds both registries of the workspace: names of three dot-separated parts
(`catalog.schema.model`) are Unity Catalog's, every other name the workspace registry's. The
workspace searches (`registered-models/search`, `model-versions/search`) leave the Unity Catalog
names out, as a real workspace registry never lists them.

As in Unity Catalog, searches answer without tags and aliases, a version search needs a `name=` or
`run_id=` filter, versions have no stage, and a version's files live in a storage location of their
own (`abfss://<container>@<account>.dfs.core.windows.net/models/<name>/versions/<v>`): `publish()`
puts them there, as Unity Catalog's registration does. Not emulated: every write (create, update,
delete, tags, aliases), catalog/schema permissions, the `/api/2.1` native API, prompts, lineage.
Credential expiry is emulated on demand (`expired`: the next N credentials are handed out already
expired). A model the caller may browse but not execute (`no_execute`) is listed and read, but its
versions' read credentials answer HTTP 403 PERMISSION_DENIED: reading a model needs the owner or
EXECUTE (a listing without it only with `include_browse`, or EXECUTE revoked since;
https://docs.databricks.com/api/uc-registered-models/v1/list-registered-models.md; Databricks' error
shape: https://docs.databricks.com/api/account/errors). With `empty_pages`, every page of a search
is preceded by an empty page carrying a `next_page_token`, as Unity Catalog's lists may answer ("a
page may contain zero results while still providing a next_page_token",
https://docs.databricks.com/api/uc-registered-models/v1/list-registered-models.md).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

OSS = "/api/2.0/mlflow/"
UC = "/api/2.0/mlflow/unity-catalog/"
EMPTY = "empty-page:"
THREE_LEVEL = re.compile(r"^[^.]+\.[^.]+\.[^.]+$")
WORKSPACE_SEARCHES = {
    f"{OSS}registered-models/search": "registered_models",
    f"{OSS}model-versions/search": "model_versions",
}


def is_uc(name: str) -> bool:
    return bool(THREE_LEVEL.match(name))


def _uc_model(m: dict, details: bool) -> dict:
    out = {
        k: m[k]
        for k in ("name", "creation_timestamp", "last_updated_timestamp", "description")
        if k in m
    }
    if details:
        out.update(tags=m.get("tags", []), aliases=m.get("aliases", []))
    return out


class UnityCatalogRules(Rules):
    """Answer Unity Catalog's registry API from the server's OSS registry (place after
    DatabricksRules)."""

    def __init__(self, connection_string: str, account: str, key: str, container: str) -> None:
        self.blobs = BlobServiceClient.from_connection_string(connection_string)
        self.account, self.key, self.container = account, key, container
        self.expired = 0  # how many of the next credentials are handed out already expired
        self.no_execute: set[str] = set()  # models whose versions' files the caller may not read
        # each search page is preceded by an empty one with a next_page_token
        self.empty_pages = False
        if not self.blobs.get_container_client(container).exists():
            self.blobs.create_container(container)
        self.handlers = {
            ("GET", "registered-models/search"): self._search_models,
            ("GET", "registered-models/get"): self._get_model,
            ("GET", "model-versions/search"): self._search_versions,
            ("GET", "model-versions/get"): self._get_version,
            ("GET", "model-versions/get-download-uri"): self._download_uri,
            ("GET", "registered-models/alias"): self._by_alias,
            ("POST", "model-versions/generate-temporary-credentials"): self._credentials,
        }

    def prefix(self, name: str, version: str) -> str:
        return f"models/{name}/versions/{version}"

    def storage_location(self, name: str, version: str) -> str:
        host = f"{self.account}.dfs.core.windows.net"
        return f"abfss://{self.container}@{host}/{self.prefix(name, version)}"

    def publish(self, name: str, version: str, local_dir: Path) -> None:
        """Put a version's files into its storage location (what registration does in Unity
        Catalog)."""
        container = self.blobs.get_container_client(self.container)
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            blob = f"{self.prefix(name, version)}/{path.relative_to(local_dir).as_posix()}"
            container.upload_blob(blob, path.read_bytes(), overwrite=True)

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.method == "GET" and req.path in WORKSPACE_SEARCHES:
            return self._workspace_search(req, gateway, WORKSPACE_SEARCHES[req.path])
        if not req.path.startswith(UC):
            return None
        handler = self.handlers.get((req.method, req.path[len(UC) :]))
        if handler is None:
            return error(404, "ENDPOINT_NOT_FOUND", f"not emulated: {req.method} {req.path}")
        params = {k: v[0] for k, v in parse_qs(req.query).items()}
        if req.method != "GET":
            params.update(req.json())
        if req.path.endswith("/search") and self.empty_pages:
            token = params.pop("page_token", "")
            if not token.startswith(EMPTY):
                gateway.count("uc empty page")
                return Reply(200, {"next_page_token": f"{EMPTY}{token}"})
            if token.removeprefix(EMPTY):
                params["page_token"] = token.removeprefix(EMPTY)
        name = params.get("name")
        if name is not None and not is_uc(name):
            return error(
                400,
                "INVALID_PARAMETER_VALUE",
                f"'{name}' is not a three-level name catalog.schema.model",
            )
        return handler(params, gateway)

    @staticmethod
    def _upstream(gateway: Gateway, path: str, params: dict) -> tuple[int, dict]:
        r = gateway.session().get(f"{gateway.upstream}{OSS}{path}", params=params, timeout=60)
        return r.status_code, (r.json() if r.content else {})

    def _workspace_search(self, req: Request, gateway: Gateway, key: str) -> Reply:
        status, body = self._upstream(gateway, req.path[len(OSS) :], parse_qs(req.query))
        if status == 200:
            body[key] = [x for x in body.get(key, []) if not is_uc(x["name"])]
        return Reply(status, body)

    def _search_models(self, params: dict, gateway: Gateway) -> Reply:
        query = {
            "filter": "name LIKE '%.%.%'",
            **{k: params[k] for k in ("max_results", "page_token") if k in params},
        }
        status, body = self._upstream(gateway, "registered-models/search", query)
        if status != 200:
            return Reply(status, body)
        models = [
            _uc_model(m, details=False)
            for m in body.get("registered_models", [])
            if is_uc(m["name"])
        ]
        return Reply(
            200,
            {
                "registered_models": models,
                **(
                    {"next_page_token": body["next_page_token"]}
                    if body.get("next_page_token")
                    else {}
                ),
            },
        )

    def _get_model(self, params: dict, gateway: Gateway) -> Reply:
        status, body = self._upstream(gateway, "registered-models/get", {"name": params["name"]})
        if status != 200:
            return Reply(status, body)
        return Reply(200, {"registered_model": _uc_model(body["registered_model"], details=True)})

    def _uc_version(self, v: dict, details: bool) -> dict:
        out = {
            k: v[k]
            for k in (
                "name",
                "version",
                "creation_timestamp",
                "last_updated_timestamp",
                "user_id",
                "description",
                "source",
                "run_id",
                "status",
                "status_message",
            )
            if k in v
        }
        out["storage_location"] = self.storage_location(v["name"], v["version"])
        if details:
            out["tags"] = v.get("tags", [])
            out["aliases"] = [{"alias": a, "version": v["version"]} for a in v.get("aliases", [])]
        return out

    def _search_versions(self, params: dict, gateway: Gateway) -> Reply:
        flt = params.get("filter", "")
        if not re.match(r"^\s*(name|run_id)\s*=", flt):
            return error(400, "INVALID_PARAMETER_VALUE", "a filter on name or run_id is required")
        query = {
            "filter": flt,
            **{k: params[k] for k in ("max_results", "page_token") if k in params},
        }
        status, body = self._upstream(gateway, "model-versions/search", query)
        if status != 200:
            return Reply(status, body)
        versions = [
            self._uc_version(v, details=False)
            for v in body.get("model_versions", [])
            if is_uc(v["name"])
        ]
        return Reply(
            200,
            {
                "model_versions": versions,
                **(
                    {"next_page_token": body["next_page_token"]}
                    if body.get("next_page_token")
                    else {}
                ),
            },
        )

    def _get_version(self, params: dict, gateway: Gateway) -> Reply:
        status, body = self._upstream(
            gateway, "model-versions/get", {"name": params["name"], "version": params["version"]}
        )
        if status != 200:
            return Reply(status, body)
        return Reply(200, {"model_version": self._uc_version(body["model_version"], details=True)})

    def _by_alias(self, params: dict, gateway: Gateway) -> Reply:
        status, body = self._upstream(
            gateway, "registered-models/alias", {"name": params["name"], "alias": params["alias"]}
        )
        if status != 200:
            return Reply(status, body)
        return Reply(200, {"model_version": self._uc_version(body["model_version"], details=True)})

    def _download_uri(self, params: dict, gateway: Gateway) -> Reply:
        reply = self._get_version(params, gateway)
        if reply.status != 200:
            return reply
        return Reply(200, {"artifact_uri": reply.body["model_version"]["storage_location"]})

    def _credentials(self, params: dict, gateway: Gateway) -> Reply:
        if params.get("operation") != "MODEL_VERSION_OPERATION_READ":
            return error(403, "PERMISSION_DENIED", "only READ credentials are emulated")
        if params.get("name") in self.no_execute:
            gateway.count("403 no EXECUTE")
            return error(
                403,
                "PERMISSION_DENIED",
                f"User does not have EXECUTE on Routine or Model '{params['name']}'.",
            )
        reply = self._get_version(params, gateway)
        if reply.status != 200:
            return reply
        expired, self.expired = self.expired > 0, max(0, self.expired - 1)
        expiry = datetime.now(timezone.utc) + timedelta(minutes=-5 if expired else 15)
        sas = generate_container_sas(
            self.account,
            self.container,
            account_key=self.key,
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=expiry,
        )
        gateway.count("uc read credentials" + (" (expired)" if expired else ""))
        return Reply(
            200,
            {
                "credentials": {
                    "azure_user_delegation_sas": {"sas_token": sas},
                    "expiration_time": int(time.time() * 1000) + 15 * 60 * 1000,
                    "storage_mode": "CUSTOMER_HOSTED",
                }
            },
        )
