"""Copy a run's artifact tree file by file, streaming through a temporary folder."""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from mlflow.entities import FileInfo

from syncer.endpoint import Endpoint
from syncer.errors import call

FILES_IN_FLIGHT = 4


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

    The listing already says this is a file, so it is fetched with the repository's file download
    (`download_artifacts` would list the path first to learn whether it is a directory).
    """
    tmp = tempfile.mkdtemp(prefix="mlflow-syncer-")
    try:
        local = os.path.join(tmp, posixpath.basename(info.path))
        call(src, "download_artifact", lambda: src_repo._download_file(remote_file_path=info.path, local_path=local))
        size = os.path.getsize(local)
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
    """Copy every file that `existing` (destination path -> size) lacks or holds with another size.

    Files are copied FILES_IN_FLIGHT at a time; `on_copied` runs in the calling thread.
    """
    stats = CopyStats()
    todo = [info for info in walk(src, src_repo) if not _present(existing, info)]
    workers = max(1, min(FILES_IN_FLIGHT, len(todo)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artifacts") as pool:
        futures = {pool.submit(copy_file, src, src_repo, dst, dst_repo, info): info for info in todo}
        for fut in as_completed(futures):
            size = fut.result()
            on_copied(futures[fut].path, size)
            stats.files += 1
            stats.bytes += size
    return stats


def _present(existing: dict[str, int | None], info: FileInfo) -> bool:
    have = existing.get(info.path, -1)
    return info.path in existing and (have is None or info.file_size is None or have == info.file_size)
