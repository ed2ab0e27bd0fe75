"""Azure Blob transfer (syncer/blob.py) against a real Azurite."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from syncer.backends import azure_blob as blob
from syncer.backends.azure_blob import BlobLocation


@pytest.fixture
def small_blocks(monkeypatch):
    """4 MiB blocks, so a 20 MB file goes up in several parallel blocks."""
    monkeypatch.setattr(blob, "BLOCK_SIZE", 4 * 1024 * 1024)
    monkeypatch.setattr(blob, "_clients", {})
    yield
    blob._clients.clear()


def test_parse_wasbs_uris():
    loc = BlobLocation.parse("wasbs://mlflow@acct.blob.core.windows.net/artifacts/1/abc/artifacts")
    assert (loc.account, loc.container, loc.path) == ("acct", "mlflow", "artifacts/1/abc/artifacts")
    assert loc.child("deep/er/data.bin").path == "artifacts/1/abc/artifacts/deep/er/data.bin"
    assert BlobLocation.parse("wasbs://c@acct.blob.core.chinacloudapi.cn").path == ""
    assert BlobLocation.parse("mlflow-artifacts:/1/abc") is None
    assert BlobLocation.parse("/tmp/x") is None


def test_parallel_block_upload_and_download_of_a_large_file(azurite, small_blocks, tmp_path):
    container = azurite.container("blobtest")
    data = os.urandom(20 * 1024 * 1024 + 123)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    dest = BlobLocation(
        "devstoreaccount1", "core.windows.net", container, f"{uuid.uuid4().hex}/big.bin"
    )
    blob.upload(str(local), dest)
    committed, _ = blob.blob_client(dest).get_block_list("committed")
    assert len(committed) == 6  # 5 full 4 MiB blocks and the rest: block transfer, not one put
    back = tmp_path / "back.bin"
    blob.download(dest, str(back))
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_server_side_copy_between_containers(azurite, tmp_path):
    a, b = azurite.container("copy-src"), azurite.container("copy-dst")
    key = f"{uuid.uuid4().hex}/ünï cødé.bin"
    data = os.urandom(3 * 1024 * 1024)
    src = BlobLocation("devstoreaccount1", "core.windows.net", a, key)
    dst = BlobLocation("devstoreaccount1", "core.windows.net", b, key)
    blob.blob_client(src).upload_blob(data)
    assert blob.server_copy(src, dst) == len(data)
    props = blob.blob_client(dst).get_blob_properties()
    assert props.copy.status == "success" and f"/{a}/" in props.copy.source  # copied by the service
    assert blob.blob_client(dst).download_blob().readall() == data
