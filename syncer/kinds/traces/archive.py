"""The trace archiver: every trace of one source experiment as MLflow's own trace JSON, for
`unsupported: archive`.

Each trace is one file, `trace/<YYYY-MM-DDTHH>/<trace id>.json` (the UTC hour its source request
started: syncer.kinds.traces.archive_scan.trace_bucket), holding the usual envelope whose `object`
is `json.loads(Trace.to_json())`: the info as the source has it (ids, request time, duration, state,
previews, tags, metadata with the run link `mlflow.sourceRun` as the source wrote it, assessments)
and the whole span tree.

Bounded memory for tens of thousands of traces per experiment: trace infos are paged oldest first
(so the hours come in order), the file names already archived are listed one hour at a time, and
whole traces are read `TRACE_BATCH` at a time (at most `BATCH_BYTES` of spans by the sizes the
source recorded), written to a temporary directory and uploaded with one `log_artifacts` per batch.
Idempotent: a file already listed is not written again, so a rerun writes nothing and a pass killed
in the middle of a batch writes only what is missing. Write-once destinations (Azure ML) need no
conflict settling here: the hour is listed before its batches are written, and Blob Storage lists a
blob as soon as its upload is committed (a killed upload leaves no blob), so no upload of a later
pass meets a file already there. Not so on Azure ML's run-history artifact path
(syncer/backends/azureml_runs.py): `batch/metadata` records a path before its content is written, so
a kill between the two leaves a listed path without content, which is counted here as archived.
Checking each listed file's content (one contentinfo call per file and pass) is not done: a known
limit (docs/DATABRICKS_AZUREML.md). `mlflow-syncer restore` reads them back
(syncer.kinds.traces.archive_scan, syncer.kinds.traces.restore).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from syncer.apply.archive import ArchiveWriter
from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.backends.run_files import list_run_files
from syncer.core.archive import Archiver, envelope, file_path, register
from syncer.kinds.traces.apply import BATCH_BYTES, TRACE_BATCH, read_whole
from syncer.kinds.traces.archive_scan import KIND, count_archived, trace_bucket
from syncer.kinds.traces.pages import iter_trace_infos
from syncer.kinds.traces.restore import restore_traces
from syncer.kinds.traces.snapshot import recorded_size


def file_name(trace_id: str) -> str:
    """The name of a trace's file inside its hour directory (ids with unusual characters
    base64-encoded)."""
    return file_path(KIND, trace_id).split("/", 1)[1]


def trace_ids(src: Endpoint, experiment_id: str | None) -> Iterator[str]:
    """The ids of one source experiment's traces, paged, oldest first (traces always belong to an
    experiment)."""
    if experiment_id is not None:
        for info in iter_trace_infos(src, experiment_id):
            yield info.trace_id


def export_trace(src: Endpoint, trace_id: str) -> dict:
    """One whole trace as MLflow's own trace JSON (as a dict)."""
    found = read_whole(src, [trace_id])
    if trace_id not in found:
        raise LookupError(f"trace {trace_id} is not in the source")
    return json.loads(found[trace_id].to_json())


def _listed(writer: ArchiveWriter, run_id: str, bucket: str) -> set[str]:
    return {
        f.path.rsplit("/", 1)[-1]
        for f in list_run_files(writer.dst, run_id, bucket)
        if not f.is_dir
    }


def _write_batch(
    src: Endpoint, writer: ArchiveWriter, run_id: str, bucket: str, ids: list[str]
) -> int:
    """Read a batch of whole traces and upload their JSON files in one call; returns the files
    written."""
    if not ids:
        return 0
    traces = read_whole(src, ids)  # traces deleted since the search are gone: nothing to archive
    if not traces:
        return 0
    written = len(traces)
    with tempfile.TemporaryDirectory(prefix="mlflow-syncer-traces-") as tmp:
        for trace_id, trace in traces.items():
            doc = envelope(KIND, trace_id, writer.source, json.loads(trace.to_json()))
            (Path(tmp) / file_name(trace_id)).write_text(
                json.dumps(doc, ensure_ascii=False), encoding="utf-8"
            )
        traces.clear()
        call(
            writer.dst,
            "log_artifacts",
            lambda: writer.dst.client.log_artifacts(run_id, tmp, bucket),
        )
    return written


def archive_traces(
    src: Endpoint,
    writer: ArchiveWriter,
    run_id: str,
    experiment_id: str | None,
    only: set[str] | None = None,
) -> tuple[int, int]:
    """Archive the traces of one source experiment (those in `only`, when given): (written, already
    archived)."""
    if experiment_id is None:
        return 0, 0
    written = kept = size = 0
    bucket: str | None = None
    present: set[str] = set()
    pending: list[str] = []
    for info in iter_trace_infos(src, experiment_id):
        if only is not None and info.trace_id not in only:
            continue
        hour = trace_bucket(int(info.request_time or 0))
        if hour != bucket:
            written += _write_batch(src, writer, run_id, bucket or hour, pending)
            pending, size, bucket, present = [], 0, hour, _listed(writer, run_id, hour)
        if file_name(info.trace_id) in present:
            kept += 1
            continue
        weight = recorded_size(info.trace_metadata)
        if pending and (len(pending) >= TRACE_BATCH or size + weight > BATCH_BYTES):
            written += _write_batch(src, writer, run_id, hour, pending)
            pending, size = [], 0
        pending.append(info.trace_id)
        size += weight
    written += _write_batch(src, writer, run_id, bucket or "", pending)
    return written, kept


ARCHIVER = Archiver(
    KIND,
    list_ids=trace_ids,
    export=export_trace,
    archive_all=archive_traces,
    count=count_archived,
    restore_all=restore_traces,
)
register(ARCHIVER)
