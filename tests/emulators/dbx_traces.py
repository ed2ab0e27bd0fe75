"""Databricks-like traces: the v3 trace API MLflow's Databricks store calls, spans served as trace
data files.

What MLflow's client (mlflow/store/tracking/databricks_rest_store.py, mlflow/tracing/client.py)
calls with a `databricks` tracking URI, and how this emulator answers it in front of the real
server:
- search: `POST /api/4.0/mlflow/traces/search-long-running` is answered 404 `ENDPOINT_NOT_FOUND` (a
  workspace whose v4 search does not take experiment locations), so the client falls back, as it
  does on Databricks, to the v3 search `GET /api/3.0/mlflow/traces/search`, passed to the real
  server;
- a trace's info: `GET /api/3.0/mlflow/traces/<id>` (passed through);
- spans: Databricks keeps an experiment trace's spans as a trace data file next to the trace
  (`mlflow.artifactLocation` = `dbfs:/databricks/mlflow-tracking/<experiment>/<trace
  id>/artifacts`), read through `GET /api/2.0/mlflow/traces/<id>/credentials-for-data-download`,
  which hands out a signed URL. Every trace info leaving the gateway says so (the server's own
  `mlflow.trace.spansLocation` tag is removed), and the credential request writes the trace's spans,
  as the server holds them, into Azurite as `traces.json` (MLflow's trace data format) and answers
  with a short-lived SAS URL for that blob.

Not emulated: the v3 batch reads the OSS server offers (`traces/batchGet`, `traces/batchGetInfos`,
`traces/get`: 404, MLflow's Databricks store never calls them); the v4 API (traces in Unity Catalog
tables, `batchGet` by location); online (inference-table) traces; trace attachments; any trace write
through the gateway (the tests write their traces to the real server directly).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from mlflow import MlflowClient
from mlflow.tracing.utils import TraceJSONEncoder

from tests.emulators.gateway import Gateway, Reply, Request, Rules, error

DBFS = "dbfs:/databricks/mlflow-tracking/"
V3 = "/api/3.0/mlflow/traces"
ARTIFACT_LOCATION = "mlflow.artifactLocation"
SPANS_LOCATION = "mlflow.trace.spansLocation"
DATA_READ = re.compile(r"^/api/2\.0/mlflow/traces/(?P<id>[^/]+)/credentials-for-data-download$")
NOT_SERVED = (f"{V3}/batchGet", f"{V3}/batchGetInfos", f"{V3}/get", "/api/4.0/mlflow/traces/")


def _databricks_info(info: dict) -> dict:
    """A trace info as a workspace answers it: spans in a trace data file next to the trace."""
    exp = info.get("trace_location", {}).get("mlflow_experiment", {}).get("experiment_id")
    tags = info.setdefault("tags", {})
    tags.pop(SPANS_LOCATION, None)
    if exp and info.get("trace_id"):
        tags[ARTIFACT_LOCATION] = f"{DBFS}{exp}/{info['trace_id']}/artifacts"
    return info


class DatabricksTraces(Rules):
    """Serve the trace routes of a Databricks workspace (place after DatabricksRules)."""

    def __init__(
        self,
        connection_string: str,
        blob_endpoint: str,
        account: str,
        key: str,
        container: str = "databricks-traces",
    ) -> None:
        self.blobs = BlobServiceClient.from_connection_string(connection_string)
        self.blob_endpoint, self.account, self.key, self.container = (
            blob_endpoint.rstrip("/"),
            account,
            key,
            container,
        )
        if not self.blobs.get_container_client(container).exists():
            self.blobs.create_container(container)

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path.startswith(NOT_SERVED):
            return error(404, "ENDPOINT_NOT_FOUND", f"No API found for '{req.method} {req.path}'")
        m = DATA_READ.match(req.path)
        if m and req.method == "GET":
            return self._data_credential(m["id"], gateway)
        return None

    def rewrite(self, req: Request, content: bytes) -> bytes:
        if not req.path.startswith(V3) or not content.strip().startswith(b"{"):
            return content
        body = json.loads(content)
        if isinstance(body.get("traces"), list):  # search
            body["traces"] = [_databricks_info(t) for t in body["traces"]]
        elif isinstance(body.get("trace", {}).get("trace_info"), dict):  # one trace info
            _databricks_info(body["trace"]["trace_info"])
        else:
            return content
        return json.dumps(body).encode()

    def _data_credential(self, trace_id: str, gateway: Gateway) -> Reply:
        """Write the trace's spans as its trace data file and hand out a read SAS URL for it."""
        try:
            trace = MlflowClient(gateway.upstream).get_trace(trace_id)
        except Exception:
            return error(404, "RESOURCE_DOES_NOT_EXIST", f"Trace with id '{trace_id}' not found")
        blob = f"{trace_id}/traces.json"
        self.blobs.get_blob_client(self.container, blob).upload_blob(
            json.dumps(trace.data.to_dict(), cls=TraceJSONEncoder, ensure_ascii=False).encode(),
            overwrite=True,
        )
        sas = generate_blob_sas(
            self.account,
            self.container,
            blob,
            account_key=self.key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(timezone.utc) + timedelta(minutes=15),
        )
        gateway.count("trace data credentials")
        url = f"{self.blob_endpoint}/{self.container}/{quote(blob)}?{sas}"
        return Reply(200, {"credential_info": {"signed_uri": url, "type": "AZURE_SAS_URI"}})
