"""Artifact transfer with azure-storage-blob where an end keeps artifacts in Azure Blob Storage.

* both ends blob (or a SAS URL from Databricks into a blob destination): server-side copy
  (`start_copy_from_url`), the bytes never pass through this machine;
* one end blob: parallel block upload or download (`max_concurrency`) through a temporary file;
* neither: the caller falls back to MLflow's artifact API.

Clients are built like MLflow's `wasbs://` repository builds them: AZURE_STORAGE_CONNECTION_STRING
when set (the account in the URI is then ignored, as MLflow does), else AZURE_STORAGE_ACCESS_KEY,
else a non-interactive Azure credential (syncer/auth.py).
"""

from __future__ import annotations

import os
import posixpath
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from syncer.backends.auth import azure_credential
from syncer.core import env_knobs

if TYPE_CHECKING:  # azure-storage-blob is imported where a blob is first touched
    from azure.storage.blob import BlobClient, BlobServiceClient

_WASBS = re.compile(
    r"^wasbs://(?P<container>[^@/]+)@(?P<account>[^./]+)\.blob\.(?P<suffix>[^/]+)(?:/(?P<path>.*))?$"
)
CONCURRENCY = int(env_knobs.number("MLFLOW_SYNCER_BLOB_CONCURRENCY"))
BLOCK_SIZE = int(env_knobs.number("MLFLOW_SYNCER_BLOB_BLOCK_SIZE"))
COPY_TIMEOUT = env_knobs.number("MLFLOW_SYNCER_BLOB_COPY_TIMEOUT")


@dataclass(frozen=True)
class BlobLocation:
    """A container and a path prefix in one storage account."""

    account: str
    suffix: str
    container: str
    path: str

    @classmethod
    def parse(cls, uri: str | None) -> BlobLocation | None:
        """The blob location of a `wasbs://container@account.blob.<cloud suffix>/path` URI, else
        None."""
        m = _WASBS.match(uri or "")
        if not m:
            return None
        return cls(m["account"], m["suffix"], m["container"], (m["path"] or "").strip("/"))

    def child(self, rel: str) -> BlobLocation:
        return BlobLocation(
            self.account, self.suffix, self.container, posixpath.join(self.path, rel).strip("/")
        )


_clients: dict[str, BlobServiceClient] = {}
_lock = threading.Lock()


def service(loc: BlobLocation) -> BlobServiceClient:
    """A cached BlobServiceClient for the location's account."""
    key = f"{loc.account}.{loc.suffix}"
    with _lock:
        if key not in _clients:
            _clients[key] = _make_service(loc)
        return _clients[key]


def _make_service(loc: BlobLocation) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    tuning = {
        "max_single_put_size": BLOCK_SIZE,
        "max_block_size": BLOCK_SIZE,
        "max_single_get_size": BLOCK_SIZE,
        "max_chunk_get_size": BLOCK_SIZE,
    }
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if conn:
        return BlobServiceClient.from_connection_string(conn, **tuning)
    url = f"https://{loc.account}.blob.{loc.suffix}"
    key = os.environ.get("AZURE_STORAGE_ACCESS_KEY")
    if key:
        return BlobServiceClient(
            url, credential={"account_name": loc.account, "account_key": key}, **tuning
        )
    return BlobServiceClient(url, credential=azure_credential(), **tuning)


def blob_client(loc: BlobLocation) -> BlobClient:
    return service(loc).get_blob_client(loc.container, loc.path)


def upload(local: str, dest: BlobLocation) -> None:
    """Upload a file in parallel blocks."""
    with open(local, "rb") as fh:
        blob_client(dest).upload_blob(fh, overwrite=True, max_concurrency=CONCURRENCY)


def download(src: BlobLocation, local: str) -> None:
    """Download a blob in parallel ranges."""
    with open(local, "wb") as fh:
        blob_client(src).download_blob(max_concurrency=CONCURRENCY).readinto(fh)


def _readable_url(src: BlobClient) -> str:
    """The source URL, with a short-lived read SAS when we hold the account key."""
    cred = src.credential
    account_key = getattr(cred, "account_key", None)
    if not account_key:
        return src.url
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    sas = generate_blob_sas(
        src.account_name,
        src.container_name,
        src.blob_name,
        account_key=account_key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return f"{src.url}?{sas}"


def readable_url(src: BlobLocation) -> str:
    """A URL the storage service can copy `src` from (a short read SAS when we hold the key)."""
    return _readable_url(blob_client(src))


def server_copy(src: BlobLocation, dest: BlobLocation) -> int:
    """Copy a blob by the storage service itself; returns its size."""
    return copy_from_url(_readable_url(blob_client(src)), dest)


def copy_from_url(url: str, dest: BlobLocation) -> int:
    """Have the destination's storage service copy a readable blob URL (for instance a SAS URL
    handed out by Databricks) into `dest`; the bytes never pass through this machine. Returns the
    size."""
    target = blob_client(dest)
    target.start_copy_from_url(url)
    deadline = time.monotonic() + COPY_TIMEOUT
    while True:
        props = target.get_blob_properties()
        status = props.copy.status
        if status == "success":
            return props.size
        if status in ("failed", "aborted") or time.monotonic() > deadline:
            raise OSError(
                f"server-side copy into {dest.path} ended as {status}: "
                f"{props.copy.status_description}"
            )
        time.sleep(0.2)


def download_url(url: str, local: str) -> None:
    """Download a blob from a SAS URL in parallel ranges."""
    from azure.storage.blob import BlobClient

    client = BlobClient.from_blob_url(
        url, max_single_get_size=BLOCK_SIZE, max_chunk_get_size=BLOCK_SIZE
    )
    with open(local, "wb") as fh:
        client.download_blob(max_concurrency=CONCURRENCY).readinto(fh)
