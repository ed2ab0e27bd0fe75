"""A Databricks workspace-registry version's own files (`dbfs:/databricks/mlflow-registry/...`).

The workspace registry keeps a copy of each version's files that neither the DBFS API nor the Files
API reads: they are listed by `model-versions/list-artifacts` and read through a URL handed out per
file by `model-versions/get-signed-download-uri` (MLflow's DatabricksModelsArtifactRepository,
"@developer_stable"). `signed_reads` makes those URLs a batch of signed reads like any other
(syncer.backends.databricks_signed): the answer names no cloud, so each is read with one plain GET
and the headers it names. MLflow's own `_download_file` would list the file's folder before every
file and turn any refusal into INTERNAL_ERROR.
"""

from __future__ import annotations

from mlflow.store.artifact.databricks_models_artifact_repo import (
    REGISTRY_ARTIFACT_PRESIGNED_URI_ENDPOINT,
    DatabricksModelsArtifactRepository,
)
from mlflow.utils.rest_utils import verify_rest_response

from syncer.backends.calls import call
from syncer.backends.databricks_signed import PLAIN_GET, SignedRead
from syncer.backends.endpoint import Endpoint

REGISTRY_FILES = "dbfs:/databricks/mlflow-registry/"


class RegistryFiles(DatabricksModelsArtifactRepository):
    """The files of one workspace-registry version, listed and read through the model-versions
    API."""

    endpoint: Endpoint | None = None  # the registry's endpoint: each request through `calls.call`

    def signed_reads(self, paths: list[str], fresh: bool = False) -> dict[str, SignedRead]:
        """One signed download URL per file (each is asked anew: `fresh` changes nothing)."""
        return {path: self._signed(path) for path in paths}

    def _signed(self, path: str) -> SignedRead:
        def ask() -> dict:
            response = self._call_endpoint(
                self._make_json_body(path), REGISTRY_ARTIFACT_PRESIGNED_URI_ENDPOINT
            )
            return verify_rest_response(response, REGISTRY_ARTIFACT_PRESIGNED_URI_ENDPOINT).json()

        body = call(self.endpoint, "get_signed_download_uri", ask) if self.endpoint else ask()
        headers = tuple((h["name"], h["value"]) for h in body.get("headers") or () if "name" in h)
        return SignedRead(body["signed_uri"], PLAIN_GET, headers)


def is_registry_files(uri: str) -> bool:
    """Is this a workspace registry's own copy of a version's files?"""
    return uri.startswith(REGISTRY_FILES)


def registry_files(endpoint: Endpoint, name: str, version: str) -> RegistryFiles:
    """The files of one version of the endpoint's workspace registry."""
    repo = RegistryFiles(f"models:/{name}/{version}", registry_uri=endpoint.resolved_registry_uri)
    repo.endpoint = endpoint
    return repo
