"""Copy a run's artifact tree file by file, streaming through a temporary folder."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from mlflow.entities import FileInfo
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
from mlflow.utils.mime_type_utils import _guess_mime_type
from mlflow.utils.rest_utils import augmented_raise_for_status, http_request

from syncer.backends import azure_blob as blob
from syncer.backends import azureml_runs
from syncer.backends import databricks_signed as signed
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.write_once import write_once
from syncer.core import env_knobs
from syncer.core.errors import Kind, SyncError

# how many of one run's files are copied at once
FILES_IN_FLIGHT = int(env_knobs.number("MLFLOW_SYNCER_FILES_IN_FLIGHT"))


@dataclass
class CopyStats:
    files: int = 0
    bytes: int = 0


def walk(endpoint: Endpoint, repo, path: str | None = None) -> Iterator[FileInfo]:
    """Every file below `path` in an artifact repository, depth first."""
    for info in call(endpoint, "list_artifacts", lambda: repo.list_artifacts(path)):
        if info.is_dir:
            yield from walk(endpoint, repo, info.path)
        else:
            yield info


def listing(endpoint: Endpoint, repo) -> dict[str, int | None]:
    """Path -> size (None where the endpoint does not report sizes) of every file in a
    repository."""
    sizes = {}
    for info in walk(endpoint, repo):
        size = info.file_size if endpoint.caps.artifact_sizes else None
        sizes[info.path] = size if size is not None and size >= 0 else None
    return sizes


STREAM_FROM = (
    8 << 20
)  # files at least this big go straight from the source's GET into the destination's PUT
CHUNK = 1 << 20


class _Body:
    """A sized, file-like view of a streamed HTTP response: requests sends it with a
    Content-Length."""

    def __init__(self, resp, size: int) -> None:
        self.chunks = resp.iter_content(chunk_size=CHUNK)
        self.size = size
        self.buffer = b""
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self.buffer) < n) and (chunk := next(self.chunks, b"")):
            self.buffer += chunk
        n = len(self.buffer) if n < 0 else n
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        self.sent += len(out)
        return out


def _streamable(src_repo, dst_repo, info: FileInfo) -> bool:
    return (
        isinstance(src_repo, HttpArtifactRepository)
        and isinstance(dst_repo, HttpArtifactRepository)
        and info.file_size is not None
        and info.file_size >= STREAM_FROM
    )


def stream_file(src_repo, dst_repo, info: FileInfo) -> int:
    """Pipe one file from a proxied artifact server to another: one pass, CHUNK bytes in memory at a
    time."""
    endpoint = posixpath.join("/", info.path)
    # No retries inside: a half-sent body cannot be rewound; `call` retries the whole copy instead.
    with http_request(src_repo._host_creds, endpoint, "GET", stream=True, max_retries=0) as resp:
        augmented_raise_for_status(resp)
        body = _Body(resp, info.file_size)
        put = http_request(
            dst_repo._host_creds,
            endpoint,
            "PUT",
            data=body,
            max_retries=0,
            extra_headers={"Content-Type": _guess_mime_type(info.path)},
        )
        augmented_raise_for_status(put)
    if body.sent != info.file_size:
        raise SyncError(
            f"artifact {info.path}: copied {body.sent} of {info.file_size} bytes", Kind.TRANSIENT
        )
    return body.sent


def copy_file(
    src: Endpoint,
    src_repo,
    dst: Endpoint,
    dst_repo,
    info: FileInfo,
    read: signed.SignedRead | None = None,
    local: str | None = None,
) -> int:
    """Copy one artifact file; the bytes pass through a temporary file (or a pipe), never whole in
    memory.

    Where an end keeps artifacts in Azure Blob Storage, azure-storage-blob moves them
    (syncer/blob.py): server-side copy when both ends are blob (a Databricks SAS URL counts as a
    blob source; the SAS URI an Azure ML run-history destination hands out counts as a blob
    destination), parallel block transfer when one is. Otherwise the listing already says this is a
    file, so it is fetched with the repository's file download (`download_artifacts` would list the
    path first to learn whether it is a directory); big files are piped straight through.
    `local`: the file was already read (`read_ahead`).
    """
    if local is not None:
        _upload(dst, dst_repo, info.path, local)
        return os.path.getsize(local)
    src_blob = blob.BlobLocation.parse(getattr(src_repo, "artifact_uri", None))
    dst_blob = blob.BlobLocation.parse(getattr(dst_repo, "artifact_uri", None))
    history = azureml_runs.client_of(dst_repo)
    if history is not None and (src_blob or (read and read.azure_sas)):
        return _copy_into_history(src, src_repo, dst, history, info, src_blob, read)
    if read and read.azure_sas and dst_blob:
        target = dst_blob.child(info.path)
        return call(
            dst,
            "blob_copy",
            lambda: signed.with_refresh(
                src, src_repo, info.path, read, lambda r: blob.copy_from_url(r.url, target)
            ),
        )
    if src_blob and dst_blob:
        return call(
            dst,
            "blob_copy",
            lambda: blob.server_copy(src_blob.child(info.path), dst_blob.child(info.path)),
        )
    if not src_blob and not dst_blob and not read and _streamable(src_repo, dst_repo, info):
        return call(dst, "stream_artifact", lambda: stream_file(src_repo, dst_repo, info))
    tmp = tempfile.mkdtemp(prefix="mlflow-syncer-")
    try:
        local = os.path.join(tmp, posixpath.basename(info.path))
        fetch_file(src, src_repo, info.path, local, read)
        _upload(dst, dst_repo, info.path, local)
        return os.path.getsize(local)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_into_history(
    src: Endpoint,
    src_repo,
    dst: Endpoint,
    history,
    info: FileInfo,
    src_blob: blob.BlobLocation | None,
    read: signed.SignedRead | None,
) -> int:
    """Storage-side copy from a blob or SAS-readable source into the SAS URI Azure ML hands out."""
    if src_blob:
        return call(
            dst,
            "blob_copy",
            lambda: history.copy_from_url(
                blob.readable_url(src_blob.child(info.path)), info.path, info.file_size
            ),
        )

    def copy(r: signed.SignedRead) -> int:
        return history.copy_from_url(r.url, info.path, info.file_size)

    return call(dst, "blob_copy", lambda: signed.with_refresh(src, src_repo, info.path, read, copy))


def _upload(dst: Endpoint, dst_repo, path: str, local: str) -> None:
    """Upload a local file (named as the artifact) to `path` in the destination repository."""
    dst_blob = blob.BlobLocation.parse(getattr(dst_repo, "artifact_uri", None))
    if dst_blob:
        call(dst, "blob_upload", lambda: blob.upload(local, dst_blob.child(path)))
    else:
        directory = posixpath.dirname(path) or None
        call(dst, "log_artifact", lambda: dst_repo.log_artifact(local, directory))


def fetch_file(
    src: Endpoint, src_repo, path: str, local: str, read: signed.SignedRead | None = None
) -> None:
    """Download one file (known to be a file: no listing first) to `local`: by signed URL, from blob
    storage, or through MLflow. Without `read`, a repository that signs reads is asked for one."""
    src_blob = blob.BlobLocation.parse(getattr(src_repo, "artifact_uri", None))
    if read is None and signed.supported(src_repo):
        read = signed.fetch(src, src_repo, [path])[path]
    if read and read.azure_sas:
        call(
            src,
            "blob_download",
            lambda: signed.with_refresh(
                src, src_repo, path, read, lambda r: blob.download_url(r.url, local)
            ),
        )
    elif read:
        call(
            src,
            "signed_download",
            lambda: signed.with_refresh(
                src, src_repo, path, read, lambda r: signed.download(r, local)
            ),
        )
    elif src_blob:
        call(src, "blob_download", lambda: blob.download(src_blob.child(path), local))
    else:
        call(
            src,
            "download_artifact",
            lambda: src_repo._download_file(remote_file_path=path, local_path=local),
        )


def copy_tree(
    src: Endpoint,
    src_repo,
    dst: Endpoint,
    dst_repo,
    existing: dict[str, int | None],
    on_copied: Callable[[str, int], None] = lambda path, size: None,
    ahead: SourceFiles | None = None,
    rewrite: frozenset[str] = frozenset(),
) -> CopyStats:
    """Copy every file that `existing` (destination path -> size) lacks or holds with another size.

    Files are copied FILES_IN_FLIGHT at a time; `on_copied` runs in the calling thread. Where the
    source hands out signed URLs, they are asked for signed.BATCH files at a time, just before those
    are copied. `ahead`: the source listing (and small files) read beforehand by `read_ahead`. A
    write-once conflict (syncer.backends.write_once) is settled by size, except for `rewrite` (files
    known to differ).
    """
    stats = CopyStats()
    files = ahead.files if ahead is not None else list(walk(src, src_repo))
    local = ahead.local if ahead is not None else {}
    todo = [info for info in files if not _present(existing, info)]
    workers = max(1, min(FILES_IN_FLIGHT, len(todo)))
    batch = signed.BATCH if signed.supported(src_repo) else max(1, len(todo))

    def one(info: FileInfo, read: signed.SignedRead | None) -> int:
        expected = None if info.path in rewrite else info.file_size
        return write_once(
            dst,
            dst_repo,
            info.path,
            expected,
            lambda: copy_file(src, src_repo, dst, dst_repo, info, read, local.get(info.path)),
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artifacts") as pool:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            reads = (
                signed.fetch(src, src_repo, [i.path for i in chunk])
                if signed.supported(src_repo)
                else {}
            )
            futures = {pool.submit(one, info, reads.get(info.path)): info for info in chunk}
            for fut in as_completed(futures):
                size = fut.result()
                on_copied(futures[fut].path, size)
                stats.files += 1
                stats.bytes += size
    return stats


def _present(existing: dict[str, int | None], info: FileInfo) -> bool:
    have = existing.get(info.path, -1)
    return info.path in existing and (
        have is None or info.file_size is None or have == info.file_size
    )


READ_AHEAD_BYTES = (
    64 << 20
)  # at most this much of one run's files is downloaded ahead of its writes


@dataclass
class SourceFiles:
    """One run's source artifacts read ahead of its destination writes: the listing, and the small
    files already downloaded (artifact path -> local file of the same base name), in `folder` until
    `close`."""

    files: list[FileInfo]
    local: dict[str, str] = field(default_factory=dict)
    folder: str | None = None

    def close(self) -> None:
        """Delete the downloaded files."""
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder, self.local = None, {}


def read_ahead(src: Endpoint, src_repo, budget: int = READ_AHEAD_BYTES) -> SourceFiles:
    """List a source repository and download its files below STREAM_FROM, up to `budget` bytes in
    all, to a temporary folder. Files that take another path (blob storage, signed URLs, streamed)
    are only listed."""
    out = SourceFiles(list(walk(src, src_repo)))
    if signed.supported(src_repo) or blob.BlobLocation.parse(
        getattr(src_repo, "artifact_uri", None)
    ):
        return out
    small, used = [], 0
    for info in out.files:
        size = info.file_size
        if size is not None and 0 <= size < STREAM_FROM and used + size <= budget:
            small.append(info)
            used += size
    if not small:
        return out
    out.folder = tempfile.mkdtemp(prefix="mlflow-syncer-ahead-")
    paths = {
        info.path: os.path.join(out.folder, str(i), posixpath.basename(info.path))
        for i, info in enumerate(small)
    }
    try:
        with ThreadPoolExecutor(
            max_workers=min(FILES_IN_FLIGHT, len(small)), thread_name_prefix="ahead"
        ) as pool:
            for fut in [
                pool.submit(_fetch_to, src, src_repo, path, target)
                for path, target in paths.items()
            ]:
                fut.result()
    except BaseException:
        out.close()
        raise
    out.local = paths
    return out


def _fetch_to(src: Endpoint, src_repo, path: str, local: str) -> None:
    os.makedirs(os.path.dirname(local), exist_ok=True)
    fetch_file(src, src_repo, path, local)
