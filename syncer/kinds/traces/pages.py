"""Page through one experiment's trace infos (no spans), oldest first: the one trace search of both
sides.

Used by the trace scan (syncer.kinds.traces.scan), the trace archiver (syncer.kinds.traces.archive)
and the restore of archived traces, which reads a destination's copies one time window at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlflow.entities import TraceInfo

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint

# The most trace infos MLflow's search answers with in one page.
TRACE_PAGE_SIZE = 500


def iter_trace_infos(
    endpoint: Endpoint, experiment_id: str, since_ms: int | None = None, until_ms: int | None = None
) -> Iterator[TraceInfo]:
    """Page through the trace infos of one experiment, oldest first (started in [`since_ms`,
    `until_ms`))."""
    store = endpoint.client._tracking_client.store
    bounds = ([f"timestamp_ms >= {int(since_ms)}"] if since_ms is not None else []) + (
        [f"timestamp_ms < {int(until_ms)}"] if until_ms is not None else []
    )
    query = " AND ".join(bounds) or None
    size = min(TRACE_PAGE_SIZE, endpoint.caps.search_page_size)
    token = None
    while True:
        infos, token = call(
            endpoint,
            "search_traces",
            lambda t=token: store.search_traces(
                locations=[experiment_id],
                filter_string=query,
                max_results=size,
                order_by=["timestamp_ms ASC"],
                page_token=t,
            ),
        )
        yield from infos
        if not token:
            return
