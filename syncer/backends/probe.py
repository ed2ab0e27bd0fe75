"""Is an endpoint there at all? One cheap request, no retries, a short timeout.

A call about one object (a file, a run, a page) can fail for good while the end answers everything
else (an MLflow 2.x server drops the connection for a file with a Japanese name). `calls.call` asks
the probe before it declares an end unreachable: if the end answers, the failure is that object's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlflow.utils.rest_utils import http_request

from syncer.backends.classify import describe

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint


def _timeout() -> float:
    """At most 10 s, and no longer than MLflow's own request timeout."""
    try:
        return min(10.0, float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")))
    except ValueError:
        return 10.0


_SEARCH = "/api/2.0/mlflow/experiments/search"


@dataclass(frozen=True)
class ProbeResult:
    """What the probe saw: the end answered (`ok`: any status below 500 but 401), refused our
    credentials (`unauthorized`), or neither."""

    ok: bool
    detail: str
    unauthorized: bool = False


def probe(endpoint: Endpoint, timeout: float | None = None) -> ProbeResult:
    """Ask the end for one experiment: over REST a single request (no retries, `timeout` seconds, by
    default 10 or MLflow's request timeout if shorter), for a database or file store a one-row
    search."""
    timeout = timeout or _timeout()
    try:
        store = endpoint.client._tracking_client.store
        if not hasattr(store, "get_host_creds"):
            endpoint.client.search_experiments(max_results=1)
            return ProbeResult(True, "a one-row search answered")
        resp = http_request(
            store.get_host_creds(),
            _SEARCH,
            "POST",
            max_retries=0,
            timeout=timeout,
            retry_timeout_seconds=timeout,
            raise_on_status=False,
            json={"max_results": 1},
        )
    except Exception as exc:  # any failure to get an answer is the answer
        return ProbeResult(False, describe(exc))
    status = getattr(resp, "status_code", 0)
    if status == 401:
        return ProbeResult(False, "401 Unauthorized", unauthorized=True)
    # Any answer but 401 and 5xx is a server that is there (a 429 or 403 says so as well as a 200
    # does).
    return ProbeResult(200 <= status < 500, f"experiments/search answered {status}")
