"""Signed-URL reads from Databricks: `dbfs:/databricks/mlflow-tracking/...` artifacts are read
through short-lived URLs (SAS URLs on Azure Databricks) that the workspace hands out for a batch of
files.

One `credentials-for-read` request covers up to BATCH files of a run or logged model (MLflow's own
client asks once per file); a Unity Catalog version's container SAS covers all its files
(syncer/ucfiles.py). An Azure SAS URL is a blob any azure-storage-blob client can read, so it feeds
the blob fast paths in syncer/blob.py: a server-side copy into an Azure Blob destination, or a
parallel ranged download. Other URL kinds (AWS presigned, GCP signed, ADLS Gen2 SAS URLs) are read
with one plain GET carrying the headers the credential names (`download`), as MLflow's repository
reads them. The workspace pages its answer (`next_page_token`, at most 2,000 paths a request):
MLflow's `_get_read_credential_infos` follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from mlflow.protos.databricks_artifacts_pb2 import ArtifactCredentialType
from mlflow.store.artifact.databricks_artifact_repo import DatabricksArtifactRepository
from mlflow.utils.file_utils import download_file_using_http_uri

from syncer.backends.calls import call
from syncer.backends.classify import describe
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import Kind, SyncError

BATCH = 500
PLAIN_GET = 0  # a signed URL whose cloud is not named (workspace registry files): one plain GET
T = TypeVar("T")


@dataclass(frozen=True)
class SignedRead:
    """Where to read one file: a URL valid for a short while, its kind and the headers it needs."""

    url: str
    kind: int
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def azure_sas(self) -> str | None:
        """The URL when it is a plain Azure Blob SAS URL (usable by azure-storage-blob), else
        None."""
        return (
            self.url
            if self.kind == ArtifactCredentialType.AZURE_SAS_URI and not self.headers
            else None
        )


def supported(repo) -> bool:
    """Does this artifact repository hand out signed read URLs? Databricks' own, or any repository
    with a `signed_reads(paths, fresh)` method (syncer/ucfiles.py)."""
    return isinstance(repo, DatabricksArtifactRepository) or hasattr(repo, "signed_reads")


def fetch(endpoint: Endpoint, repo, paths: list[str], fresh: bool = False) -> dict[str, SignedRead]:
    """Signed read URLs for files of one run, logged model or model version, by path; `fresh` asks
    for new credentials where a repository would otherwise reuse the ones it holds."""
    if hasattr(repo, "signed_reads"):
        return repo.signed_reads(list(paths), fresh)
    infos = call(
        endpoint, "credentials_for_read", lambda: repo._get_read_credential_infos(list(paths))
    )
    if len(infos) != len(paths):
        raise SyncError(
            f"asked read credentials for {len(paths)} files, got {len(infos)}", Kind.TRANSIENT
        )
    return {
        path: SignedRead(
            info.signed_uri, int(info.type), tuple((h.name, h.value) for h in info.headers)
        )
        for path, info in zip(paths, infos, strict=True)
    }


def download(read: SignedRead, local: str) -> None:
    """Read a non-Azure-Blob signed URL (AWS presigned, GCP signed, ADLS Gen2 SAS) into a local
    file."""
    download_file_using_http_uri(read.url, local, headers=dict(read.headers))


def expired(exc: BaseException) -> bool:
    """Did storage refuse a signed URL (expired or revoked), so that a fresh one may work? Azure
    answers 403 (AuthenticationFailed), S3 403 (AccessDenied: "Request has expired"), GCS 400
    (ExpiredToken)."""
    from azure.core.exceptions import HttpResponseError

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in (400, 403)
    code = str(getattr(exc, "error_code", "") or "")
    return isinstance(exc, HttpResponseError) and (
        exc.status_code == 403 or code in ("AuthenticationFailed", "CannotVerifyCopySource")
    )


def with_refresh(
    endpoint: Endpoint, repo, path: str, read: SignedRead, use: Callable[[SignedRead], T]
) -> T:
    """Use a signed URL; if storage refuses it, ask for a fresh one once and use that."""
    try:
        return use(read)
    except Exception as exc:
        if not expired(exc):
            raise
    try:
        return use(fetch(endpoint, repo, [path], fresh=True)[path])
    except Exception as exc:
        if not expired(exc):
            raise
        # A signed URL is scoped to one object: refused twice, it fails that object, not the whole
        # sync.
        raise SyncError(
            f"storage refused a fresh signed URL for {path}: {describe(exc)}", Kind.TERMINAL
        ) from None
