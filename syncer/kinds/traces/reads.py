"""Reading whole traces (info and spans) from one endpoint, the way its service serves them."""

from __future__ import annotations

from mlflow.entities import Trace

from syncer.backends.calls import call
from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import supports
from syncer.kinds.traces.capabilities import BATCH_READ, KIND


def read_traces(endpoint: Endpoint, trace_ids: list[str]) -> list[Trace]:
    """The whole traces of `trace_ids` (missing ones left out): one batched read where the end has
    one (`supports(caps, KIND, BATCH_READ)`), else MLflow's `get_trace` per trace (on Databricks:
    the trace info, then its trace data file through a signed URL)."""
    client = endpoint.client._tracing_client
    if supports(endpoint.caps, KIND, BATCH_READ):
        return call(endpoint, "batch_get_traces", lambda: client.batch_get_traces(trace_ids))
    return [call(endpoint, "get_trace", lambda t=t: client.get_trace(t)) for t in trace_ids]
