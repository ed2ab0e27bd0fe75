"""Copy a run's artifact tree file by file, streaming through a temporary folder."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mlflow.entities import FileInfo

from syncer import blob
from syncer.endpoint import Endpoint
from syncer.errors import call


@dataclass
class CopyStats:
    files: int = 0
    bytes: int = 0


def walk(endpoint: Endpoint, repo, path: str | None = None) -> Iterator[FileInfo]:  # noqa: ANN001
    """Every file below `path` in an artifact repository, depth first."""
    for info in call(endpoint, "list_artifacts", lambda: repo.list_artifacts(path)):
        if info.is_dir:
            yield from walk(endpoint, repo, info.path)
        else:
            yield info


def listing(endpoint: Endpoint, repo) -> dict[str, int | None]:  # noqa: ANN001
    """Path -> size (None where the endpoint does not report sizes) of every file in a repository."""
    sizes = {}
    for info in walk(endpoint, repo):
        size = info.file_size if endpoint.caps.artifact_sizes else None
        sizes[info.path] = size if size is not None and size >= 0 else None
    return sizes


def copy_file(src: Endpoint, src_repo, dst: Endpoint, dst_repo, info: FileInfo) -> int:  # noqa: ANN001
    """Copy one artifact file; the bytes pass through a temporary file, never through memory.

    Where an end keeps artifacts in Azure Blob Storage, azure-storage-blob moves them (syncer/blob.py):
    server-side copy when both ends are blob, parallel block transfer when one is.
    """
    src_blob = blob.BlobLocation.parse(getattr(src_repo, "artifact_uri", None))
    dst_blob = blob.BlobLocation.parse(getattr(dst_repo, "artifact_uri", None))
    if src_blob and dst_blob:
        return call(dst, "blob_copy", lambda: blob.server_copy(src_blob.child(info.path), dst_blob.child(info.path)))
    tmp = tempfile.mkdtemp(prefix="mlflow-syncer-")
    try:
        if src_blob:
            local = os.path.join(tmp, posixpath.basename(info.path))
            call(src, "blob_download", lambda: blob.download(src_blob.child(info.path), local))
        else:
            local = call(src, "download_artifact", lambda: src_repo.download_artifacts(info.path, dst_path=tmp))
        size = os.path.getsize(local)
        if dst_blob:
            call(dst, "blob_upload", lambda: blob.upload(local, dst_blob.child(info.path)))
        else:
            directory = posixpath.dirname(info.path) or None
            call(dst, "log_artifact", lambda: dst_repo.log_artifact(local, directory))
        return size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_tree(
    src: Endpoint,
    src_repo,  # noqa: ANN001
    dst: Endpoint,
    dst_repo,  # noqa: ANN001
    existing: dict[str, int | None],
    on_copied: Callable[[str, int], None] = lambda path, size: None,
) -> CopyStats:
    """Copy every file that `existing` (destination path -> size) lacks or holds with another size."""
    stats = CopyStats()
    for info in walk(src, src_repo):
        have = existing.get(info.path, -1)
        if info.path in existing and (have is None or info.file_size is None or have == info.file_size):
            continue
        size = copy_file(src, src_repo, dst, dst_repo, info)
        on_copied(info.path, size)
        stats.files += 1
        stats.bytes += size
    return stats
