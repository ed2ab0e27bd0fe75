"""A run's own artifacts, listed and read through its artifact repository.

Not through `MlflowClient.list_artifacts` / `download_artifacts`: MLflow 3 resolves those with its
`runs:/` repository, which also looks for the run's logged models (a logged-model search per
listing), and Azure ML answers that search 404, so every listing of a holder run there would fail.
"""

from __future__ import annotations

import threading

from mlflow.entities import FileInfo

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint

_ROOTS: dict[tuple[str, str], str] = {}  # (tracking URI, run id) -> artifact URI (it never changes)
_LOCK = threading.Lock()


def run_repo(endpoint: Endpoint, run_id: str):  # an MLflow ArtifactRepository
    """The artifact repository of one run (its artifact URI read once per process)."""
    key = (endpoint.tracking_uri, run_id)
    with _LOCK:
        root = _ROOTS.get(key)
    if root is None:
        root = call(endpoint, "get_run", lambda: endpoint.client.get_run(run_id)).info.artifact_uri
        with _LOCK:
            _ROOTS[key] = root
    return endpoint.artifact_repo(root)


def list_run_files(endpoint: Endpoint, run_id: str, path: str | None = None) -> list[FileInfo]:
    """The entries directly under `path` of a run's artifacts (none when the directory does not
    exist)."""
    repo = run_repo(endpoint, run_id)
    return list(call(endpoint, "list_artifacts", lambda: repo.list_artifacts(path)))


def download_run_file(endpoint: Endpoint, run_id: str, path: str, dst_dir: str) -> str:
    """Download one file of a run's artifacts into `dst_dir`; returns its local path."""
    repo = run_repo(endpoint, run_id)
    return call(
        endpoint, "download_artifacts", lambda: repo.download_artifacts(path, dst_path=dst_dir)
    )
