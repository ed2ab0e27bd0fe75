"""Read the traces of the selected experiments, page by page, as plain `TraceSnap`s: trace infos only.

Searches return trace infos without spans (the spans are read when a trace is copied, in bounded batches,
by syncer.apply.traces), so scanning tens of thousands of traces holds a few hundred bytes per trace.
Incremental mirror cycles read only the traces that started after a cursor (minus a look-back window).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import structlog
from mlflow.entities import TraceInfo
from mlflow.exceptions import MlflowException

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import Snapshot
from syncer.core.trace_snapshot import (
    META_SOURCE_RUN,
    TAG_SOURCE_TRACE_ID,
    TAG_TRACE_FINGERPRINT,
    TraceSnap,
    trace_fingerprint,
)

# The most trace infos MLflow's search answers with in one page.
TRACE_PAGE_SIZE = 500
SIZE_BYTES = "mlflow.trace.sizeBytes"
_NO_API_CODES = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED"})

log = structlog.get_logger("syncer.scan.traces")


def no_trace_api(exc: BaseException) -> bool:
    """Whether a failed trace search means the server has no trace API at all (404/501, not found endpoint)."""
    if isinstance(exc, NotImplementedError):
        return True
    return isinstance(exc, MlflowException) and (
        exc.error_code in _NO_API_CODES or re.search(r"\b(404|501)\b", str(exc)) is not None)


def trace_snap(info: TraceInfo) -> TraceSnap:
    """One trace info as plain data, its comparable content reduced to a fingerprint."""
    return TraceSnap(
        trace_id=info.trace_id,
        experiment_id=str(info.experiment_id),
        request_time=int(info.request_time or 0),
        state=getattr(info.state, "value", str(info.state)),
        fingerprint=trace_fingerprint(info.to_dict()),
        source_run=info.trace_metadata.get(META_SOURCE_RUN) or None,
        source_trace_id=info.tags.get(TAG_SOURCE_TRACE_ID),
        copy_fingerprint=info.tags.get(TAG_TRACE_FINGERPRINT),
        size=_size(info.trace_metadata.get(SIZE_BYTES)),
    )


def _size(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def iter_trace_infos(endpoint: Endpoint, experiment_id: str, since_ms: int | None = None) -> Iterator[TraceInfo]:
    """Page through the trace infos of one experiment, oldest first (only those started at or after `since_ms`)."""
    store = endpoint.client._tracking_client.store
    query = f"timestamp_ms >= {int(since_ms)}" if since_ms is not None else None
    size = min(TRACE_PAGE_SIZE, endpoint.caps.search_page_size)
    token = None
    while True:
        infos, token = call(endpoint, "search_traces", lambda t=token: store.search_traces(
            locations=[experiment_id], filter_string=query, max_results=size,
            order_by=["timestamp_ms ASC"], page_token=t))
        yield from infos
        if not token:
            return


def scan_traces(endpoint: Endpoint, snap: Snapshot, experiment_ids: Iterable[str],
                since: dict[str, int] | None = None) -> None:
    """Add the traces of the given experiments to the snapshot (`since`: per experiment, the oldest time read)."""
    since = since or {}
    for experiment_id in experiment_ids:
        try:
            for info in iter_trace_infos(endpoint, experiment_id, since.get(experiment_id)):
                snap.traces[info.trace_id] = trace_snap(info)
        except Exception as exc:
            if snap.traces or not no_trace_api(exc):
                raise
            # A server without the trace API holds no trace: nothing to copy, nothing skipped.
            log.warning("no trace API: traces not read", endpoint=endpoint.identity, error=str(exc)[:200])
            return
