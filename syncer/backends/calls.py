"""The one place that decides what a failure means: transient, terminal for one object, or fatal.

Transient failures are retried here (tenacity, exponential backoff with jitter, never sooner than a
server's Retry-After where the failure carries the response). MLflow's own HTTP layer
retries 429/5xx underneath and honours Retry-After; `configure_http_retries` keeps that inner layer
short so that a dead server fails in seconds to minutes rather than half an hour.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, TypeVar

import requests
from mlflow.exceptions import MlflowException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from syncer.backends import telemetry
from syncer.core import hooks
from syncer.core.errors import FatalError, Kind, SyncError
from syncer.core.redact import redact

if TYPE_CHECKING:
    from syncer.backends.endpoint import Endpoint

T = TypeVar("T")


_TRANSIENT_CODES = {
    "INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED",
}
_FATAL_CODES = {"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED"}
_TRANSIENT_TEXT = (
    "failed with exception", "timeout", "timed out", "connection reset", "connection aborted",
    "remote end closed", "too many 429", "too many 5", "database is locked", "temporarily unavailable",
)


_STATUS_TEXT = re.compile(r"error code (\d{3})")


def _by_status(status: int) -> Kind:
    if status in (401, 403):
        return Kind.FATAL
    if status in (408, 429) or status >= 500:
        return Kind.TRANSIENT
    return Kind.TERMINAL


def classify(exc: BaseException) -> Kind:
    """Decide whether a failure is worth retrying, skippable for one object, or fatal for the run."""
    if isinstance(exc, SyncError):
        return exc.kind
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return Kind.TRANSIENT
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return _by_status(exc.response.status_code)
    if isinstance(exc, MlflowException):
        code = exc.error_code
        text = str(exc).lower()
        status = _STATUS_TEXT.search(text)
        if code in _FATAL_CODES or " 401" in text or " 403" in text:
            return Kind.FATAL
        if code in _TRANSIENT_CODES or any(t in text for t in _TRANSIENT_TEXT):
            return Kind.TRANSIENT
        return _by_status(int(status[1])) if status else Kind.TERMINAL
    azure_kind = _classify_azure(exc)
    if azure_kind is not None:
        return azure_kind
    if isinstance(exc, OSError):
        return Kind.TRANSIENT if "reset" in str(exc).lower() else Kind.TERMINAL
    return Kind.TERMINAL


def _classify_azure(exc: BaseException) -> Kind | None:
    """Azure SDK failures (blob transfer, credentials): network trouble and 408/429/5xx are transient."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ClientAuthenticationError):
        return Kind.FATAL
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return Kind.TRANSIENT
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        if status in (401, 403):
            return Kind.FATAL
        return Kind.TRANSIENT if status in (408, 429) or status >= 500 else Kind.TERMINAL
    return None


_UNREACHABLE = {
    "connection refused": "connection refused", "newconnectionerror": "cannot connect",
    "name or service not known": "unknown host", "nodename nor servname": "unknown host",
    "connecttimeout": "connection timed out", "read timed out": "no answer (read timed out)",
    "readtimeout": "no answer (read timed out)", "connection aborted": "connection reset",
    "connection reset": "connection reset", "remotedisconnected": "connection closed without answer",
}


def unreachable_reason(exc: BaseException) -> str | None:
    """Why an endpoint as a whole cannot be reached (connection-level failure), or None."""
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)) \
            and not isinstance(exc, MlflowException):
        text = f"{type(exc).__name__} {exc}".lower()
    elif isinstance(exc, MlflowException):
        text = str(exc).lower()
    else:
        return None
    return next((reason for pattern, reason in _UNREACHABLE.items() if pattern in text), None)


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a failure."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MlflowException):
        text = text.split(". Response body:")[0]
    cause = exc.__cause__
    if isinstance(exc, TimeoutError) and cause is not None and str(cause).strip():
        # The Databricks SDK gives up on retrying 429/503 with a bare "Timed out after ...".
        text += f" (last error: {type(cause).__name__}: {str(cause).strip().splitlines()[0]})"
    return redact(text)[:500]


class RetryPolicy:
    """How hard to retry a transient failure before giving up on the object."""

    attempts: int = int(os.environ.get("MLFLOW_SYNCER_RETRY_ATTEMPTS", "6"))
    max_wait: float = float(os.environ.get("MLFLOW_SYNCER_RETRY_MAX_WAIT", "20"))
    max_delay: float = float(os.environ.get("MLFLOW_SYNCER_RETRY_MAX_DELAY", "180"))


def _before_sleep(endpoint: Endpoint, op: str) -> Callable[[RetryCallState], None]:
    def hook(state: RetryCallState) -> None:
        telemetry.RETRIES.labels(endpoint.role, op).inc()

    return hook


def call(endpoint: Endpoint, op: str, fn: Callable[[], T]) -> T:
    """Run one API call against an endpoint: rate limited, counted, transient failures retried.

    When the retries of a connection-level failure run out, the endpoint is marked down and the failure
    becomes fatal: every other call to it stops at once instead of waiting out its own retries.
    """
    started = time.monotonic()
    try:
        return _retrying(endpoint, op, fn)
    except FatalError:
        raise
    except Exception as exc:
        reason = unreachable_reason(exc) if classify(exc) is Kind.TRANSIENT else None
        if reason is None:
            raise
        endpoint.down = (f"the {endpoint.role} ({endpoint.identity}) is unreachable: {reason} "
                         f"(gave up on {op} after {time.monotonic() - started:.0f} s of retries)")
        raise FatalError(endpoint.down) from exc


def retry_after(exc: BaseException | None) -> float | None:
    """The seconds a server asked us to wait (`Retry-After`: seconds or an HTTP date), if the failure says."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _wait(state: RetryCallState) -> float:
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""
    backoff = wait_exponential_jitter(multiplier=0.5, max=RetryPolicy.max_wait, jitter=0.5)(state)
    asked = retry_after(state.outcome.exception() if state.outcome else None)
    return backoff if asked is None else min(max(backoff, asked), RetryPolicy.max_delay)


def _retrying(endpoint: Endpoint, op: str, fn: Callable[[], T]) -> T:
    retrying = Retrying(
        retry=retry_if_exception(lambda e: classify(e) is Kind.TRANSIENT),
        stop=stop_after_attempt(RetryPolicy.attempts) | stop_after_delay(RetryPolicy.max_delay),
        wait=_wait,
        before_sleep=_before_sleep(endpoint, op),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if endpoint.down:
                raise FatalError(endpoint.down)
            endpoint.limiter.acquire(op)
            telemetry.API_CALLS.labels(endpoint.role, op).inc()
            hooks.reached(op)
            result = fn()
            hooks.reached(op, "after")
            return result
    raise AssertionError("unreachable")


def configure_http_retries() -> None:
    """Keep MLflow's inner HTTP retries short unless the user chose otherwise (see docs/RELIABILITY.md).

    Also stop MlflowClient.set_terminated from printing a run link, which costs a hidden get_run per run.
    """
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    # MLflow's usage telemetry phones home and flushes at exit for seconds where there is no route out.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Databricks calls go through the Databricks SDK, which retries 429/503 honouring Retry-After
    # until this many seconds have passed (MLflow's default: 500 s per call, before our own retries).
    os.environ.setdefault("MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT", "60")
    # MLflow prints "View run ... at: URL" (user info of the URL included) after every set_terminated,
    # at the cost of an extra get_run: never wanted here.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
