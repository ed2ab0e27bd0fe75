"""Read the traces of the selected experiments, page by page, as plain `TraceSnap`s: trace infos
only.

Searches return trace infos without spans (the spans are read when a trace is copied, in bounded
batches, by syncer.kinds.traces.apply), so scanning tens of thousands of traces holds a few hundred
bytes per trace. Incremental mirror cycles read only the traces that started after a cursor (minus a
look-back window).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import structlog
from mlflow.entities import TraceInfo
from mlflow.exceptions import MlflowException

from syncer.backends.endpoint import Endpoint
from syncer.core.snapshot import Snapshot
from syncer.kinds.traces.pages import iter_trace_infos
from syncer.kinds.traces.snapshot import (
    META_SOURCE_RUN,
    TAG_SOURCE_TRACE_ID,
    TAG_TRACE_FINGERPRINT,
    TraceSnap,
    recorded_size,
    trace_fingerprint,
)

_NO_API_CODES = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED"})

log = structlog.get_logger("syncer.kinds.traces.scan")


def no_trace_api(exc: BaseException) -> bool:
    """Whether a failed trace search means the server has no trace API at all (404/501, not found
    endpoint)."""
    if isinstance(exc, NotImplementedError):
        return True
    return isinstance(exc, MlflowException) and (
        exc.error_code in _NO_API_CODES or re.search(r"\b(404|501)\b", str(exc)) is not None
    )


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
        size=recorded_size(info.trace_metadata),
    )


def scan_traces(
    endpoint: Endpoint,
    snap: Snapshot,
    experiment_ids: Iterable[str],
    since: dict[str, int] | None = None,
) -> None:
    """Add the traces of the given experiments to the snapshot (`since`: per experiment, the oldest
    time read)."""
    since = since or {}
    for experiment_id in experiment_ids:
        try:
            for info in iter_trace_infos(endpoint, experiment_id, since.get(experiment_id)):
                snap.part("trace")[info.trace_id] = trace_snap(info)
        except Exception as exc:
            if snap.part("trace") or not no_trace_api(exc):
                raise
            # A server without the trace API holds no trace: nothing to copy, nothing skipped.
            log.warning(
                "no trace API: traces not read", endpoint=endpoint.identity, error=str(exc)[:200]
            )
            return
