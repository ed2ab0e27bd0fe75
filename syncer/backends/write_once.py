"""Artifacts a destination keeps write-once. Azure ML answers a second upload to a path with 409
"UserError: Resource Conflict: ArtifactId ExperimentRun/dcid.<run>/<path> already exists"
(lightly-ai/lightly-train#256). A pass killed between an upload and its record uploads the file
again on the next pass; the conflict is settled by comparing what the destination holds (its size)
with the source, never a failure on every pass.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Callable, Iterator

import structlog

from syncer.backends import azureml_runs
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.errors import Kind, SyncError

log = structlog.get_logger(__name__)
CONFLICT_TEXT = ("Resource Conflict", "BlobAlreadyExists")


class UnwritableArtifact(SyncError):
    """A path the destination recorded but holds no content at, and refuses to write again: an
    upload cut short between Azure ML's batch/metadata call and its PUT. The copy holding it can
    never be completed; the run applier retires it and copies the run afresh
    (syncer/apply/runs.py)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__]


def is_write_conflict(exc: BaseException) -> bool:
    """True for a refusal to write a path that already holds a file (HTTP 409, or the service's
    text)."""
    for e in _chain(exc):
        status = getattr(e, "status_code", None) or getattr(
            getattr(e, "response", None), "status_code", None
        )
        if status == 409 or any(text in str(e) for text in CONFLICT_TEXT):
            return True
    return False


def size_there(dst: Endpoint, dst_repo, path: str) -> int | None:
    """The size of the file the destination holds at `path` (None: not there). Where listings carry
    no sizes (the azureml-mlflow plugin's), the file is downloaded and measured; Azure ML's run
    history is asked for the content of the file there (syncer/backends/azureml_runs.py)."""
    history = azureml_runs.client_of(dst_repo)
    if history is not None:
        return call(dst, "artifact_size", lambda: history.size(path))
    directory = posixpath.dirname(path) or None
    for info in call(dst, "list_artifacts", lambda: dst_repo.list_artifacts(directory)):
        if info.path == path and not info.is_dir:
            if info.file_size is not None and info.file_size >= 0:
                return info.file_size
            with tempfile.TemporaryDirectory(prefix="mlflow-syncer-there-") as tmp:
                local = call(
                    dst, "download_artifact", lambda tmp=tmp: dst_repo.download_artifacts(path, tmp)
                )
                return os.path.getsize(local)
    return None


def write_once(
    dst: Endpoint,
    dst_repo,
    path: str,
    expected: int | None,
    write: Callable[[], int],
    listed: Callable[[], int | None] | None = None,
) -> int:
    """Run `write` (returns the bytes written); on a write-once conflict, accept the file already
    there when its size is the source's (returns it), else fail this object with a clear line.
    `listed`: how to read the size there (default: list the path's folder in `dst_repo`)."""
    try:
        return write()
    except Exception as exc:
        if not is_write_conflict(exc):
            raise
        there = listed() if listed is not None else size_there(dst, dst_repo, path)
        if expected is not None and there == expected:
            log.info("artifact already there", path=path, size=there)
            return there
        if there is None:
            raise UnwritableArtifact(
                f"artifact {path}: the destination refuses to write it and holds no "
                "content there (an upload cut short: a write-once path cannot be "
                "written again)",
                Kind.TERMINAL,
            ) from exc
        raise SyncError(
            f"artifact {path}: the destination already holds a file of {there} bytes there (the "
            f"source's: {expected}) and refuses to overwrite it",
            Kind.TERMINAL,
        ) from exc
