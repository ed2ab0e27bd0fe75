"""Read archived traces back (syncer.kinds.traces.archive wrote them): one hour directory at a time.

`archived_hours` lists a holder run's `trace/` directory and then each hour's files, yielding one
hour's listing at a time; `read_traces` downloads a batch of files and parses each as MLflow's own
trace JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlflow.entities import Trace

from syncer.backends.endpoint import Endpoint
from syncer.backends.run_files import list_run_files
from syncer.core.archive import source_id_of
from syncer.scan.archive import read

KIND = "trace"


@dataclass(frozen=True)
class ArchivedTrace:
    """One archived trace file: its path in the holder run, the source trace id and its size (-1:
    unknown)."""

    path: str
    source_id: str
    size: int


def archived_hours(endpoint: Endpoint, run_id: str) -> Iterator[tuple[str, list[ArchivedTrace]]]:
    """(hour directory, its trace files) of one holder run, hour after hour (nothing when it holds
    no trace)."""
    for hour in list_run_files(endpoint, run_id, KIND):
        if not hour.is_dir:
            continue
        files = list_run_files(endpoint, run_id, hour.path)
        yield (
            hour.path,
            [
                ArchivedTrace(
                    f.path, source_id_of(f.path), f.file_size if f.file_size is not None else -1
                )
                for f in files
                if not f.is_dir and f.path.endswith(".json")
            ],
        )


def read_trace(endpoint: Endpoint, run_id: str, path: str) -> Trace:
    """One archived trace, parsed from its file (MLflow's trace JSON inside the archive
    envelope)."""
    doc = read(endpoint, run_id, path)
    if doc.get("kind") != KIND:
        raise ValueError(f"{path} holds a {doc.get('kind')!r}, not a trace")
    return Trace.from_dict(doc["object"])
