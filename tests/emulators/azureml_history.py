"""Azure ML's own artifact path: `azureml://` run artifact URIs and the run-history artifact API
behind them, as the azureml-mlflow plugin (1.62) calls it, with SAS content URIs into Azurite.

- A run's `artifact_uri` is `azureml://<host>/mlflow/v2.0/subscriptions/<s>/resourceGroups/<g>/
  providers/Microsoft.MachineLearningServices/workspaces/<w>/experiments/<experiment id>/runs/
  <run id>/artifacts` (the form the plugin's `_ARTIFACT_URI_REGEX` parses,
  azureml/mlflow/_store/artifact/utils.py).
- `GET /history/v1.0/<scope>/experiments/<e>/runs/<r>/artifacts`: every artifact of the run,
  whatever folder is asked for (the plugin's `list_artifacts` filters the whole list on its side),
  paged: `PaginatedArtifactList` (`value`, `continuationToken`, `nextLink`,
  run_artifact/models/_models_py3.py).
- `POST .../artifacts/batch/metadata` (`ArtifactPathList`): creates the artifact records and answers
  `BatchArtifactContentInformationResult`, a SAS content URI to write each path; a path that already
  has a record is refused in `errors` with code "UserError", message "Resource Conflict: ArtifactId
  ExperimentRun/dcid.<run>/<path> already exists" (the plugin raises "UserError: Resource Conflict:
  ..." from it, the text quoted by lightly-ai/lightly-train#256). Write-once: a record is never
  replaced, even when its upload never came.
- `GET .../artifacts/contentinfo?path=`: `ArtifactContentInformation` with a read SAS URI; 404
  without a record. (The permissions of the two SAS URIs are not documented: here write-only to
  upload, read-only to download.)

Blobs live in the workspace container at `ExperimentRun/dcid.<run>/<path>`, written by the clients
through the write-once front (tests/emulators/azureml_blobs.py). Every call carries a token the
identity emulator issued."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote

from azure.storage.blob import BlobSasPermissions, generate_blob_sas

from tests.emulators.gateway import Gateway, Reply, Request, Rules

_ROUTE = re.compile(
    r"/experiments/(?P<exp>[^/]+)/runs/(?P<run>[^/]+)/artifacts"
    r"(?P<op>/contentinfo|/batch/metadata)?$"
)
_WASBS = re.compile(
    rb'"artifact_uri": ?"wasbs://(?P<container>[^@]+)@[^/"]+/artifacts/(?P<exp>[^/"]+)/'
    rb'(?P<run>[^/"]+)/artifacts"'
)


def _error(status: int, message: str, code: str = "UserError") -> Reply:
    """Run history's ErrorResponse shape."""
    return Reply(status, {"error": {"code": code, "message": message}})


class RunHistoryArtifacts(Rules):
    """Serve the run-history artifact routes under `scope` and hand out `azureml://` artifact
    URIs."""

    def __init__(
        self,
        scope: str,
        tokens: list[str],
        blob_url: str,
        account: str,
        key: str,
        container: str = "azureml",
        page: int = 100,
    ) -> None:
        self.scope, self.tokens, self.blob_url = scope, tokens, blob_url.rstrip("/")
        self.account, self.key, self.container, self.page = account, key, container, page
        self.host = ""  # the gateway's host:port, set once it listens
        self.records: dict[str, dict[str, str]] = {}  # run id -> path -> created time
        self.lock = threading.Lock()

    def rewrite(self, req: Request, content: bytes) -> bytes:
        """Run answers carry the `azureml://` artifact URI of the real service, not the server's
        root."""

        def uri(m: re.Match) -> bytes:
            if m["container"].decode() != self.container:
                return m[0]
            return (
                f'"artifact_uri": "azureml://{self.host}/mlflow/v2.0{self.scope}/experiments/'
                f'{m["exp"].decode()}/runs/{m["run"].decode()}/artifacts"'
            ).encode()

        return _WASBS.sub(uri, content)

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        prefix = f"/history/v1.0{self.scope}"
        if not req.path.startswith(prefix + "/"):
            return None
        if req.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return _error(401, "The access token is missing or invalid.", "AuthenticationFailed")
        m = _ROUTE.match(req.path[len(prefix) :])
        if m is None:
            return _error(404, f"No route {req.path}", "NotFound")
        run, op = m["run"], m["op"] or ""
        query = {k: v[0] for k, v in parse_qs(req.query).items()}
        if op == "" and req.method == "GET":
            return self._list(gateway, req, run, query.get("continuationToken"))
        if op == "/contentinfo" and req.method == "GET":
            return self._content(gateway, run, query.get("path", ""))
        if op == "/batch/metadata" and req.method == "POST":
            return self._create(
                gateway, run, [p.get("path", "") for p in req.json().get("paths", [])]
            )
        return _error(405, f"{req.method} {req.path} is not allowed", "MethodNotAllowed")

    def _list(self, gateway: Gateway, req: Request, run: str, token: str | None) -> Reply:
        if token is None:
            gateway.count(f"history list {run}")
        gateway.count("history list page")
        with self.lock:
            paths = sorted(self.records.get(run, {}).items())
        start = int(token or 0)
        page = paths[start : start + self.page]
        body: dict = {"value": [self._artifact(run, p, t) for p, t in page]}
        if start + self.page < len(paths):
            body["continuationToken"] = str(start + self.page)
            body["nextLink"] = (
                f"https://{self.host}{req.path}?continuationToken={start + self.page}"
            )
        return Reply(200, body)

    def _content(self, gateway: Gateway, run: str, path: str) -> Reply:
        gateway.count("history contentinfo")
        with self.lock:
            known = path in self.records.get(run, {})
        if not known:
            return _error(
                404, f"Artifact ExperimentRun/dcid.{run}/{path} was not found", "NotFound"
            )
        return Reply(200, self._info(run, path, BlobSasPermissions(read=True)))

    def _create(self, gateway: Gateway, run: str, paths: list[str]) -> Reply:
        gateway.count("history batch")
        body: dict = {"artifacts": {}, "artifactContentInformation": {}, "errors": {}}
        now = datetime.now(timezone.utc).isoformat()
        for path in paths:
            with self.lock:
                records = self.records.setdefault(run, {})
                exists = path in records
                records.setdefault(path, now)
            if exists:
                gateway.count("history conflict")
                body["errors"][path] = {
                    "error": {
                        "code": "UserError",
                        "message": "Resource Conflict: ArtifactId "
                        f"ExperimentRun/dcid.{run}/{path} already exists",
                    }
                }
                continue
            body["artifacts"][path] = self._artifact(run, path, now)
            body["artifactContentInformation"][path] = self._info(
                run, path, BlobSasPermissions(create=True, write=True)
            )
        return Reply(200, body)

    def _artifact(self, run: str, path: str, created: str) -> dict:
        return {
            "artifactId": f"ExperimentRun/dcid.{run}/{path}",
            "origin": "ExperimentRun",
            "container": f"dcid.{run}",
            "path": path,
            "createdTime": created,
        }

    def _info(self, run: str, path: str, permission: BlobSasPermissions) -> dict:
        blob = f"ExperimentRun/dcid.{run}/{path}"
        sas = generate_blob_sas(
            self.account,
            self.container,
            blob,
            account_key=self.key,
            permission=permission,
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        return {
            "contentUri": f"{self.blob_url}/{self.container}/{quote(blob)}?{sas}",
            "origin": "ExperimentRun",
            "container": f"dcid.{run}",
            "path": path,
        }
