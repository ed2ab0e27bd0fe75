"""Databricks-like artifact access: `dbfs:/databricks/mlflow-tracking/...` URIs and SAS URLs.

The real server keeps artifacts under a `wasbs://` root in Azurite. Clients of the gateway never see
that root: every answer says `dbfs:/databricks/mlflow-tracking/<experiment>/<run>/artifacts` (and
`.../logged_models/<id>/artifacts` for logged models), as a Databricks workspace does. Files are
listed through the MLflow artifacts API (the real server lists its blobs) and read through
short-lived SAS URLs handed out by `artifacts/credentials-for-read` and
`logged-models/<id>/artifacts/credentials-for-download`, as on Azure Databricks.
`credentials-for-read` pages its answer (`read_page` credentials a call, then a `next_page_token`;
Databricks answers at most 2,000 paths a request: MLflow's `_MAX_CREDENTIALS_REQUEST_SIZE` and
GetCredentialsForRead's `page_token`,
https://mlflow.org/docs/latest/java_api/com/databricks/api/proto/mlflow/DatabricksArtifacts.GetCredentialsForReadOrBuilder.html)
and may hand out the URL types of Databricks on AWS and GCP (`url_types`, in turn:
`AWS_PRESIGNED_URL`, `GCP_SIGNED_URL`; ArtifactCredentialType in
mlflow/protos/databricks_artifacts.proto), here as the same blob URL read with a plain GET. Not
emulated: the Databricks Files API (`/api/2.0/fs/...`, answered 404 by the gateway) and any write
path (the source is only read).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

DBFS = "dbfs:/databricks/mlflow-tracking/"
READ = "/api/2.0/mlflow/artifacts/credentials-for-read"
MODEL_READ = re.compile(
    r"^/api/2\.0/mlflow/logged-models/(?P<id>[^/]+)/artifacts/credentials-for-download$"
)
WRITES = (
    "/api/2.0/mlflow/artifacts/credentials-for-write",
    "/api/2.0/mlflow/artifacts/create-multipart-upload",
)


class DbfsArtifacts(Rules):
    """Hide the wasbs root behind dbfs:/ URIs and answer read-credential requests with SAS URLs."""

    def __init__(self, root: str, blob_endpoint: str, account: str, key: str) -> None:
        m = re.match(r"^wasbs://(?P<container>[^@]+)@[^/]+/(?P<prefix>.*)$", root.rstrip("/"))
        assert m, root
        self.root = root.rstrip("/") + "/"
        self.container, self.prefix = m["container"], m["prefix"]
        self.blob_endpoint, self.account, self.key = blob_endpoint.rstrip("/"), account, key
        self.models = re.compile(re.escape(self.root) + r"(?P<exp>[^/\"]+)/models/(?P<id>[^/\"]+)")
        self.expired_to_hand_out = 0  # tests: the next N credentials are already expired
        self.unreadable: set[str] = set()  # tests: runs whose credentials do not allow reading
        # credentials per credentials-for-read answer (then a next_page_token)
        self.read_page = 2000
        self.url_types: tuple[str, ...] = (
            "AZURE_SAS_URI",
        )  # the credential types handed out, in turn

    def rewrite(self, req: Request, content: bytes) -> bytes:
        text = content.decode("utf-8", errors="surrogateescape")
        if self.root not in text:
            return content
        text = self.models.sub(lambda m: f"{DBFS}{m['exp']}/logged_models/{m['id']}", text)
        return text.replace(self.root, DBFS).encode("utf-8", errors="surrogateescape")

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path == READ:
            body = req.json()
            run = gateway.upstream_json(
                "GET", "/api/2.0/mlflow/runs/get", params={"run_id": body.get("run_id")}
            )
            base = run.get("run", {}).get("info", {}).get("artifact_uri")
            if not base:
                return error(
                    404, "RESOURCE_DOES_NOT_EXIST", f"Run '{body.get('run_id')}' not found"
                )
            read = body["run_id"] not in self.unreadable
            paths, start = body.get("path", []), int(body.get("page_token") or 0)
            page = paths[start : start + self.read_page]
            infos = [
                dict(
                    self.credential(base, p, read),
                    run_id=body["run_id"],
                    path=p,
                    type=self.url_types[(start + i) % len(self.url_types)],
                )
                for i, p in enumerate(page)
            ]
            more = start + len(page) < len(paths)
            for info in infos:
                gateway.count(f"read credential {info['type']}")
            return Reply(
                200,
                {
                    "credential_infos": infos,
                    **({"next_page_token": str(start + len(page))} if more else {}),
                },
            )
        m = MODEL_READ.match(req.path)
        if m:
            model = gateway.upstream_json("GET", f"/api/2.0/mlflow/logged-models/{m['id']}")
            base = model.get("model", {}).get("info", {}).get("artifact_uri")
            if not base:
                return error(404, "RESOURCE_DOES_NOT_EXIST", f"Logged model '{m['id']}' not found")
            creds = [
                {"model_id": m["id"], "credential_info": dict(self.credential(base, p), path=p)}
                for p in req.json().get("paths", [])
            ]
            return Reply(200, {"credentials": creds})
        if req.path in WRITES or req.path.startswith("/api/2.0/fs/"):
            return error(
                404,
                "ENDPOINT_NOT_FOUND",
                f"No API found for '{req.method} {req.path}' (not emulated)",
            )
        return None

    def blob_name(self, base: str, path: str) -> str:
        """The blob of a file below an artifact root kept in the emulated storage."""
        assert base.startswith(self.root), base
        blob = f"{base[len(self.root) - 1 :].strip('/')}/{path}".strip("/")
        return f"{self.prefix}/{blob}" if self.prefix else blob

    def credential(self, base: str, path: str, read: bool = True) -> dict:
        """A read SAS URL for one file below an artifact root kept in the emulated storage."""
        blob = self.blob_name(base, path)
        lifetime = timedelta(minutes=15)
        if self.expired_to_hand_out > 0:
            self.expired_to_hand_out -= 1
            lifetime = timedelta(minutes=-5)
        sas = generate_blob_sas(
            self.account,
            self.container,
            blob,
            account_key=self.key,
            permission=BlobSasPermissions(read=read, write=not read),
            start=datetime.now(timezone.utc) - timedelta(minutes=10),
            expiry=datetime.now(timezone.utc) + lifetime,
        )
        url = f"{self.blob_endpoint}/{self.container}/{quote(blob)}?{sas}"
        return {"signed_uri": url, "type": "AZURE_SAS_URI"}
