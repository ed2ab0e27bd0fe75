"""The archive of objects a destination cannot hold, as data: names, tags, file layout and the kind
registry.

With `unsupported: archive`, each such object is written as one JSON file, `<kind>/<source
id>.json`, into the artifacts of a holder run in the destination's `mlflow-syncer-archive`
experiment: one holder run per source (tag `mlflow_syncer.archive.source`) and source experiment
(tag `mlflow_syncer.archive.experiment`, empty for workspace-wide objects). `mlflow-syncer restore`
reads them back into a destination that has the API.

Each kind plugs in an `Archiver` (`register`): how to list the source ids of one experiment, how to
export one object to a JSON-able document, and how to restore a document (idempotently, by the
kind's provenance tag). The writer (syncer.apply.archive) and the reader (syncer.scan.archive)
handle every kind the same way.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

ARCHIVE_EXPERIMENT = "mlflow-syncer-archive"
TAG_ARCHIVE_SOURCE = "mlflow_syncer.archive.source"
TAG_ARCHIVE_EXPERIMENT = "mlflow_syncer.archive.experiment"
TAG_ARCHIVE_EXPERIMENT_NAME = "mlflow_syncer.archive.experiment_name"
FORMAT = 1  # the envelope's version
Experiment = Callable[[], str | None]  # the destination experiment, created on first need
Skip = Callable[[str, int], None]  # (reason, objects) not restored


@dataclass(frozen=True)
class Archiver:
    """How one kind is archived: endpoints are syncer.backends.endpoint.Endpoint (typed Any: core
    does no I/O).

    `list_ids(source, experiment_id)`: the source ids of the kind's objects in one experiment (None:
    the workspace-wide ones); `export(source, source_id)`: one object as a JSON-able dict (traces in
    MLflow's own trace JSON); `restore(destination, document, experiment_id)`: create it (or find
    the copy already made, by the kind's provenance tag) and return its destination id.
    """

    kind: str
    list_ids: Callable[[Any, str | None], Iterable[str]]
    export: Callable[[Any, str], dict]
    # None: restored in batches (traces)
    restore: Callable[[Any, dict, str | None], str] | None = None
    # Objects with files (logged models): the artifact URI of the object's files on the source, from
    # its exported document (None: no files). The writer copies them into `<kind>/<name>.files/` of
    # the holder run; `restore` finds them as `document[FILES_KEY]` (an `ArchivedFiles`).
    files: Callable[[dict], str | None] | None = None
    # Kinds with tens of thousands of objects per experiment (traces) archive in bounded batches
    # themselves: `archive_all(source, writer, holder_run_id, experiment_id, only) -> (written,
    # already archived)`, with their own layout under `<kind>/` (syncer.engine.archive restores them
    # through its batched restorers).
    archive_all: Callable[[Any, Any, str, str | None, set[str] | None], tuple[int, int]] | None = (
        None
    )
    # Such kinds count and restore their own layout too: `count(archive, holder_run_id)` -> objects
    # archived in one holder run; `restore_all(archive, destination, holder, experiment, skip)` ->
    # (restored, already there), with `holder` a syncer.scan.archive.Holder.
    count: Callable[[Any, str], int] | None = None
    restore_all: Callable[[Any, Any, Any, Experiment, Skip], tuple[int, int]] | None = None


@dataclass(frozen=True)
class ArchivedFiles:
    """Where an archived object's files are: an endpoint (syncer.backends.endpoint.Endpoint) and
    artifact URI."""

    endpoint: Any
    uri: str


# set by restore on the document of an object with files (never written)
FILES_KEY = "_archived_files"


ARCHIVERS: dict[str, Archiver] = {}


def register(archiver: Archiver) -> None:
    """Plug a kind into the archive (each kind module calls this once, at import)."""
    ARCHIVERS[archiver.kind] = archiver


_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENCODED = "b64-"


def file_path(kind: str, source_id: str) -> str:
    """Where one object's JSON lives in its holder run: `<kind>/<source id>.json`.

    An id with other characters than letters, digits, `_ . -` (a `/` would make a directory, and
    artifact servers decode `%2F`) is written `b64-<urlsafe base64 of the id>`.
    """
    name = source_id
    if not _PLAIN.match(source_id) or source_id.startswith(_ENCODED) or source_id in (".", ".."):
        name = _ENCODED + base64.urlsafe_b64encode(source_id.encode()).decode().rstrip("=")
    return f"{kind}/{name}.json"


def files_path(kind: str, source_id: str) -> str:
    """Where one object's files live in its holder run: next to its JSON, `<kind>/<name>.files`."""
    return file_path(kind, source_id).removesuffix(".json") + ".files"


def source_id_of(file_name: str) -> str:
    """The source id of an archived object from its file name (the inverse of `file_path`'s last
    part)."""
    name = file_name.rsplit("/", 1)[-1].removesuffix(".json")
    if not name.startswith(_ENCODED):
        return name
    data = name[len(_ENCODED) :]
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()


def envelope(kind: str, source_id: str, source: str, document: dict) -> dict:
    """The archived file: what it is, where it came from, and the kind's own document."""
    return {
        "format": FORMAT,
        "tool": "mlflow-syncer",
        "kind": kind,
        "source": source,
        "source_id": source_id,
        "object": document,
    }
