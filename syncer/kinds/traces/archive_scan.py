"""The archived traces' layout and reading them back (syncer.kinds.traces.archive wrote them): one
hour directory at a time.

`trace_bucket` names a trace's hour directory; `archived_hours` lists a holder run's `trace/`
directory and then each hour's files, yielding one hour's listing at a time; `read_trace` downloads
one file and parses it as MLflow's own trace JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.entities import Trace

from syncer.backends.endpoint import Endpoint
from syncer.backends.run_files import list_run_files
from syncer.core.archive import source_id_of
from syncer.scan.archive import read

KIND = "trace"


def trace_bucket(request_time_ms: int) -> str:
    """The directory of an archived trace: `trace/<YYYY-MM-DDTHH>`, the UTC hour its source request
    started.

    Bounded listings: the archiver and `restore` hold one hour's file names at a time, never an
    experiment's.
    """
    return f"{KIND}/" + datetime.fromtimestamp(request_time_ms / 1000, tz=UTC).strftime(
        "%Y-%m-%dT%H"
    )


def bucket_range(bucket: str) -> tuple[int, int]:
    """The request times (ms, start inclusive, end exclusive) of one `trace_bucket`."""
    start = datetime.strptime(bucket.rsplit("/", 1)[-1], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    first = int(start.timestamp() * 1000)
    return first, first + 3_600_000


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


def count_archived(endpoint: Endpoint, run_id: str) -> int:
    """The traces one holder run archives (its hour directories listed one at a time)."""
    return sum(len(files) for _, files in archived_hours(endpoint, run_id))


def read_trace(endpoint: Endpoint, run_id: str, path: str) -> Trace:
    """One archived trace, parsed from its file (MLflow's trace JSON inside the archive
    envelope)."""
    doc = read(endpoint, run_id, path)
    if doc.get("kind") != KIND:
        raise ValueError(f"{path} holds a {doc.get('kind')!r}, not a trace")
    return Trace.from_dict(doc["object"])
