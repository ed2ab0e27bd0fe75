"""Read a Unity Catalog model version's files with the short-lived credentials the registry hands
out.

Unity Catalog keeps each version's files in its own storage location and answers
`generate-temporary-credentials` (operation READ) with credentials scoped to it. On Azure these are
a user-delegation SAS for an `abfss://container@account.dfs.<suffix>/path` location: the files are
listed and downloaded through the account's Blob endpoint with azure-storage-blob (parallel ranged
downloads). A SAS the storage refuses (expired during a long copy) is asked for again, once per
refusal. Other clouds (AWS, GCP, R2) go through MLflow's own Unity Catalog artifact repository.

The Blob endpoint is `https://<account>.blob.<suffix>`, unless AZURE_STORAGE_CONNECTION_STRING names
the same account with a `BlobEndpoint` (private endpoints, Azurite): the SAS is the credential
either way.
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_artifacts_pb2 import ArtifactCredentialType
from mlflow.protos.databricks_uc_registry_messages_pb2 import (
    MODEL_VERSION_OPERATION_READ,
    GenerateTemporaryModelVersionCredentialsRequest,
    GenerateTemporaryModelVersionCredentialsResponse,
    TemporaryCredentials,
)
from mlflow.protos.databricks_uc_registry_service_pb2 import UcModelRegistryService
from mlflow.store.artifact.artifact_repo import ArtifactRepository
from mlflow.utils.proto_json_utils import message_to_json
from mlflow.utils.rest_utils import call_endpoint, extract_api_info_for_service

from syncer.backends.azure_blob import CONCURRENCY
from syncer.backends.calls import call
from syncer.backends.databricks_creds import host_creds
from syncer.backends.databricks_signed import SignedRead, expired
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import SyncError
from syncer.core.model_snapshot import ModelSnap, VersionSnap
from syncer.core.redact import register_secret

if TYPE_CHECKING:  # azure-storage-blob is imported when a Unity Catalog version's files are read
    from azure.storage.blob import ContainerClient

_ABFSS = re.compile(
    r"^abfss://(?P<container>[^@/]+)@(?P<account>[^./]+)\.dfs\.(?P<suffix>[^/]+)(?:/(?P<path>.*))?$"
)
T = TypeVar("T")
_CREDENTIALS = extract_api_info_for_service(UcModelRegistryService, "/api/2.0")[
    GenerateTemporaryModelVersionCredentialsRequest
]


def read_credentials(endpoint: Endpoint, name: str, version: str) -> TemporaryCredentials:
    """Ask the registry for credentials to read one version's storage location."""
    path, method = _CREDENTIALS
    body = message_to_json(
        GenerateTemporaryModelVersionCredentialsRequest(
            name=name, version=version, operation=MODEL_VERSION_OPERATION_READ
        )
    )
    return call_endpoint(
        host_creds(endpoint.resolved_registry_uri),
        path,
        method,
        body,
        GenerateTemporaryModelVersionCredentialsResponse(),
    ).credentials


def blob_endpoint(account: str, suffix: str) -> str:
    """The Blob service URL of a storage account (see the module docstring)."""
    conn = dict(
        part.split("=", 1)
        for part in os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";")
        if "=" in part
    )
    if conn.get("AccountName") == account and conn.get("BlobEndpoint"):
        return conn["BlobEndpoint"].rstrip("/")
    return f"https://{account}.blob.{suffix}"


class SasBlobRepository(ArtifactRepository):
    """A read-only artifact repository over one blob prefix, authorised by a SAS token that is asked
    for again once when the storage refuses it (expired)."""

    def __init__(self, location: str, sas_token: str, refresh: Callable[[], str]) -> None:
        m = _ABFSS.match(location)
        if not m:
            raise SyncError(f"Unity Catalog storage location {location!r} is not an abfss:// URI")
        super().__init__(location)
        self.account_url, self.container_name = (
            blob_endpoint(m["account"], m["suffix"]),
            m["container"],
        )
        self.prefix = (m["path"] or "").strip("/")
        self.refresh, self.lock = refresh, threading.Lock()
        self.container = self._container(sas_token)

    def _container(self, sas_token: str) -> ContainerClient:
        from azure.storage.blob import ContainerClient

        return ContainerClient(self.account_url, self.container_name, credential=sas_token)

    def _fresh(self, fn: Callable[[ContainerClient], T]) -> T:
        used = self.container
        try:
            return fn(used)
        except Exception as exc:
            if not expired(exc):  # the one test of "storage refused this SAS" (syncer/signed.py)
                raise
            with self.lock:
                if self.container is used:
                    self.container = self._container(self.refresh())
            return fn(self.container)

    def _full(self, path: str | None) -> str:
        return posixpath.join(self.prefix, path or "").strip("/")

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        from azure.storage.blob import BlobPrefix

        base = self._full(path)
        infos = []
        items = self._fresh(
            lambda c: list(c.walk_blobs(name_starts_with=f"{base}/" if base else "", delimiter="/"))
        )
        for item in items:
            rel = item.name[len(self.prefix) :].strip("/")
            if isinstance(item, BlobPrefix):
                infos.append(FileInfo(rel, True, None))
            else:
                infos.append(FileInfo(rel, False, item.size))
        return infos

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        def download(container: ContainerClient) -> None:
            with open(local_path, "wb") as fh:
                container.download_blob(
                    self._full(remote_file_path), max_concurrency=CONCURRENCY
                ).readinto(fh)

        self._fresh(download)

    def signed_reads(self, paths: list[str], fresh: bool = False) -> dict[str, SignedRead]:
        """A SAS URL per file (syncer/signed.py), so that a blob destination copies them
        storage-side."""
        if fresh:
            with self.lock:
                self.container = self._container(self.refresh())
        client = self.container
        return {
            p: SignedRead(
                f"{client.get_blob_client(self._full(p)).url}", ArtifactCredentialType.AZURE_SAS_URI
            )
            for p in paths
        }

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        raise MlflowException("a Unity Catalog version's storage is read-only here")

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        raise MlflowException("a Unity Catalog version's storage is read-only here")


def version_files(endpoint: Endpoint, model: ModelSnap, v: VersionSnap) -> ArtifactRepository:
    """An artifact repository holding the files of one Unity Catalog model version."""

    def credentials() -> TemporaryCredentials:
        creds = call(
            endpoint,
            "generate_temporary_credentials",
            lambda: read_credentials(endpoint, model.name, v.version),
        )
        register_secret(creds.azure_user_delegation_sas.sas_token)  # never in logs or reports
        return creds

    creds = credentials()
    location = call(
        endpoint,
        "get_model_version_download_uri",
        lambda: endpoint.client.get_model_version_download_uri(model.name, v.version),
    )
    if creds.WhichOneof("credentials") == "azure_user_delegation_sas":
        return SasBlobRepository(
            location,
            creds.azure_user_delegation_sas.sas_token,
            refresh=lambda: credentials().azure_user_delegation_sas.sas_token,
        )
    from mlflow.store.artifact.unity_catalog_models_artifact_repo import (
        UnityCatalogModelsArtifactRepository,
    )

    return UnityCatalogModelsArtifactRepository(
        f"models:/{model.name}/{v.version}", registry_uri=endpoint.resolved_registry_uri
    )
