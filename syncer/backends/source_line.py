"""What a source can hold, asked once: the MLflow version its server runs (`GET /version`).

An MLflow 2.x server holds none of the kinds of MLflow 3 (`syncer.core.capabilities.MLFLOW3_KINDS`),
so they are never asked for and the plan says so in one note instead of one `!` row per kind. A file
store's record says what it lacks by itself; Databricks, Azure ML and direct SQL stores are left as
their records say.
"""

from __future__ import annotations

import structlog
from mlflow.utils.rest_utils import http_request

from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import as_source_of

log = structlog.get_logger("syncer.source_line")
VERSION_TIMEOUT = 10


def server_version(endpoint: Endpoint) -> str | None:
    """The MLflow version a plain MLflow server answers at /version; None when it answers none (a
    proxy, another service, no connection: the pass then finds out what it can read as before)."""
    if endpoint.caps.kind != "mlflow" or not endpoint.tracking_uri.lower().startswith(
        ("http://", "https://")
    ):
        return None
    try:
        creds = endpoint.client._tracking_client.store.get_host_creds()
        answer = http_request(creds, "/version", "GET", max_retries=1, timeout=VERSION_TIMEOUT)
    except Exception as exc:
        log.debug("no version answer", endpoint=endpoint.identity, error=type(exc).__name__)
        return None
    text = answer.text.strip() if answer.status_code == 200 else ""
    return text if text[:1].isdigit() and len(text) < 40 else None


def detect(endpoint: Endpoint) -> None:
    """Narrow a source's capabilities to what its MLflow version can hold (once per endpoint)."""
    if endpoint.line_detected:
        return
    endpoint.caps = as_source_of(endpoint.caps, server_version(endpoint))
    endpoint.line_detected = True
