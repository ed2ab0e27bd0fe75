"""Run artifacts of an Azure ML workspace (`azureml://.../experiments/<id>/runs/<id>/artifacts`),
through the azureml-mlflow plugin's own run-history client (`RunArtifactsClient`: batch/metadata,
contentinfo, listing).

Three things differ from the plugin's artifact repository as it comes:
- it is built from the endpoint's own tracking store's workspace context; the plugin takes it from
  the process-wide tracking URI (`MlflowClient()`), which is not this end's in a migration, and else
  wants a token in the artifact URI;
- the service lists every artifact of the run whatever folder is asked for, and the plugin's
  `list_artifacts` asks again for each folder (walking a tree costs folders x files): here the run
  is listed once per repository and the list kept, with the paths written since;
- a file is read from its contentinfo SAS URI by azure-storage-blob; the plugin's own download
  skips, without a word, any URI outside `https://*.blob.<cloud suffix>/`.

Uploads go through the plugin (`upload_artifact`: the PUT to the SAS URI that one batch/metadata
call per path hands out); a storage-side copy from a readable source URL goes into that SAS URI
(`copy_from_url`)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

from syncer.core import env_knobs

PREFIX = "azureml://"
COPY_POLL = 0.2
CONCURRENCY = int(env_knobs.number("MLFLOW_SYNCER_BLOB_CONCURRENCY"))


def is_run_artifacts(uri: str | None) -> bool:
    """Whether `uri` is an Azure ML run's artifact URI (not a registry's)."""
    return bool(uri) and uri.startswith(PREFIX) and "/runs/" in uri and "/registries/" not in uri


def run_repository(uri: str, store: Any, tracking_uri: str) -> Any:
    """The plugin's artifact repository (an MLflow ArtifactRepository) for one run's `azureml://`
    artifact URI, in the workspace of `store` (the end's AzureMLRestStore), listing the run once."""
    from azureml.mlflow._store.artifact.artifact_repo import AzureMLflowArtifactRepository
    from azureml.mlflow._store.artifact.utils import (
        _ARTIFACT_PATH,
        _EXP_NAME,
        _RUN_ID,
        artifact_uri_decomp,
    )
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    parts = artifact_uri_decomp(uri)
    client = _client_class()(
        store.service_context, parts[_EXP_NAME], parts[_RUN_ID], parts.get(_ARTIFACT_PATH)
    )
    repo = AzureMLflowArtifactRepository.__new__(AzureMLflowArtifactRepository)
    ArtifactRepository.__init__(repo, uri, tracking_uri=tracking_uri)
    repo.artifacts = client
    return repo


_CLASS: list[type] = []


def client_of(repo: Any) -> Any | None:
    """The run-history client of a repository `run_repository` made, else None."""
    client = getattr(repo, "artifacts", None)
    return client if _CLASS and isinstance(client, _CLASS[0]) else None


def _client_class() -> type:
    """RunArtifactsClient listing once (built on first use: the plugin is an optional extra)."""
    if _CLASS:
        return _CLASS[0]
    from azureml.mlflow._client.artifact.run_artifact_client import RunArtifactsClient

    class ListedOnce(RunArtifactsClient):
        """The plugin's run-history client; the run's listing read once and kept up to date, the
        write SAS URI of each path created here kept (a retried upload writes to it: a second
        batch/metadata call for the path would be refused, leaving a record without content)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._listed: list[str] | None = None
            self._writes: dict[str, str] = {}
            self._lock = threading.Lock()

        def get_file_paths(self) -> list[str]:
            with self._lock:
                if self._listed is None:
                    self._listed = list(super().get_file_paths())
                return list(self._listed)

        def write_url(self, path: str) -> str:
            """The SAS URI to write `path`, from one batch/metadata call per path and client."""
            with self._lock:
                url = self._writes.get(path)
            if url is None:
                url = (
                    self._create_empty_artifacts(paths=path)
                    .artifact_content_information[path]
                    .content_uri
                )
                with self._lock:
                    self._writes[path] = url
                    if self._listed is not None and path not in self._listed:
                        self._listed.append(path)
            return url

        def upload_file(self, local_path: str, artifact_path: str) -> None:
            """The plugin's upload_file, with the path's write SAS URI created once."""
            target = SimpleNamespace(content_uri=self.write_url(artifact_path))
            self.upload_artifact(local_path, artifact_path, target)

        read_url = _read_url
        size = _size

        def download_artifact(self, remote_path: str, local_path: str) -> None:
            with open(local_path, "wb") as fh:
                _blob(self.read_url(remote_path)).download_blob(
                    max_concurrency=CONCURRENCY
                ).readinto(fh)

        def copy_from_url(self, url: str, path: str, size: int | None) -> int:
            """Have storage copy the readable `url` into the artifact `path`."""
            return _copy(self, url, path, self.write_url(path), size)

    _CLASS.append(ListedOnce)
    return ListedOnce


def _read_url(client: Any, path: str) -> str:
    """The contentinfo SAS URI to read `path`."""
    ctx = client._service_context
    return client._client.run_artifacts.get_content_information(
        subscription_id=ctx.subscription_id,
        resource_group_name=ctx.resource_group_name,
        workspace_name=ctx.workspace_name,
        experiment_name=client._experiment_name,
        run_id=client._run_id,
        path=path,
    ).content_uri


def _size(client: Any, path: str) -> int | None:
    """The size of the file at `path`; None when the service has no record or no content there."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return _blob(_read_url(client, path)).get_blob_properties().size
    except ResourceNotFoundError:
        return None


def _blob(url: str) -> Any:
    """An azure-storage-blob client of a SAS URL (the library is imported on first use)."""
    from azure.storage.blob import BlobClient

    return BlobClient.from_blob_url(url)


def _copy(client: Any, url: str, path: str, target: str, size: int | None) -> int:
    """Storage copies `url` into the write SAS URI `target`; polled through the read SAS URI while
    pending."""
    status = _blob(target).start_copy_from_url(url).get("copy_status")
    while status == "pending":
        time.sleep(COPY_POLL)
        props = _blob(client.read_url(path)).get_blob_properties()
        status, size = props.copy.status, props.size
    if status != "success":
        raise OSError(f"storage-side copy into {path} ended as {status}")
    return size if size is not None else client.size(path) or 0
