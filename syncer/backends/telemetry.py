"""Prometheus metrics of the process: API calls, retries, objects copied, errors, cycles, lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

API_CALLS = Counter("mlflow_syncer_api_calls_total", "API calls made", ["endpoint", "op"])
RETRIES = Counter("mlflow_syncer_retries_total", "Transient failures retried", ["endpoint", "op"])
OBJECTS = Counter("mlflow_syncer_objects_total", "Objects handled", ["kind", "op", "result"])
ERRORS = Counter("mlflow_syncer_errors_total", "Errors by kind", ["kind"])
METRIC_POINTS = Counter("mlflow_syncer_metric_points_total", "Metric points copied")
ARTIFACT_BYTES = Counter("mlflow_syncer_artifact_bytes_total", "Artifact bytes copied")
CYCLE_SECONDS = Histogram("mlflow_syncer_cycle_seconds", "Duration of one sync cycle")
LAST_CYCLE_END = Gauge("mlflow_syncer_last_cycle_end_timestamp", "When the last cycle ended")
LAST_CYCLE_OK = Gauge("mlflow_syncer_last_cycle_ok", "1 when the last cycle ended without errors")
LAG_SECONDS = Gauge(
    "mlflow_syncer_replication_lag_seconds",
    "Age of the oldest change in the source not yet in the destination",
)


def api_call_counts() -> dict[tuple[str, str], float]:
    """Current API call counts by (endpoint, op): for tests and the benchmark."""
    out: dict[tuple[str, str], float] = {}
    for metric in API_CALLS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                out[(sample.labels["endpoint"], sample.labels["op"])] = sample.value
    return out
