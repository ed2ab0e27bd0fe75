"""The one place that decides what a failure means: transient, terminal for one object, or fatal.

Transient failures are retried here (tenacity, exponential backoff with jitter). MLflow's own HTTP layer
retries 429/5xx underneath and honours Retry-After; `configure_http_retries` keeps that inner layer
short so that a dead server fails in seconds to minutes rather than half an hour.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from enum import Enum
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

from syncer import telemetry
from syncer.redact import redact

if TYPE_CHECKING:
    from syncer.endpoint import Endpoint

T = TypeVar("T")


class Kind(str, Enum):
    TRANSIENT = "transient"
    TERMINAL = "terminal"
    FATAL = "fatal"


class SyncError(Exception):
    """A failure with its classification and a secret-free, one-line message."""

    def __init__(self, message: str, kind: Kind = Kind.TERMINAL) -> None:
        super().__init__(redact(message))
        self.kind = kind


class FatalError(SyncError):
    """Stop everything: bad credentials, destination not found, state store unusable, bad config."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Kind.FATAL)


_TRANSIENT_CODES = {
    "INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED", "ABORTED", "CANCELLED",
}
_FATAL_CODES = {"UNAUTHENTICATED", "PERMISSION_DENIED", "CUSTOMER_UNAUTHORIZED"}
_TRANSIENT_TEXT = (
    "failed with exception", "timeout", "timed out", "connection reset", "connection aborted",
    "remote end closed", "too many 429", "too many 5", "database is locked", "temporarily unavailable",
)


def classify(exc: BaseException) -> Kind:
    """Decide whether a failure is worth retrying, skippable for one object, or fatal for the run."""
    if isinstance(exc, SyncError):
        return exc.kind
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return Kind.TRANSIENT
    if isinstance(exc, MlflowException):
        code = exc.error_code
        text = str(exc).lower()
        if code in _FATAL_CODES or " 401" in text or " 403" in text:
            return Kind.FATAL
        if code in _TRANSIENT_CODES or any(t in text for t in _TRANSIENT_TEXT):
            return Kind.TRANSIENT
        return Kind.TERMINAL
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


_TEST_CALLS: Counter = Counter()
_TEST_LOCK = threading.Lock()


def _test_kill(op: str) -> None:
    """Test hook: MLFLOW_SYNCER_TEST_KILL_AT="op:N" kills this process (SIGKILL) before the Nth `op` call."""
    spec = os.environ.get("MLFLOW_SYNCER_TEST_KILL_AT")
    if not spec or spec.rpartition(":")[0] != op:
        return
    with _TEST_LOCK:
        _TEST_CALLS[op] += 1
        if _TEST_CALLS[op] == int(spec.rpartition(":")[2]):
            os.kill(os.getpid(), signal.SIGKILL)


def call(endpoint: Endpoint, op: str, fn: Callable[[], T]) -> T:
    """Run one API call against an endpoint: rate limited, counted, transient failures retried."""
    _test_kill(op)
    retrying = Retrying(
        retry=retry_if_exception(lambda e: classify(e) is Kind.TRANSIENT),
        stop=stop_after_attempt(RetryPolicy.attempts) | stop_after_delay(RetryPolicy.max_delay),
        wait=wait_exponential_jitter(multiplier=0.5, max=RetryPolicy.max_wait, jitter=0.5),
        before_sleep=_before_sleep(endpoint, op),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            endpoint.limiter.acquire(op)
            telemetry.API_CALLS.labels(endpoint.role, op).inc()
            return fn()
    raise AssertionError("unreachable")


def configure_http_retries() -> None:
    """Keep MLflow's inner HTTP retries short unless the user chose otherwise (see docs/RELIABILITY.md)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    # MLflow's usage telemetry phones home and flushes at exit for seconds where there is no route out;
    # its run-URL printing costs a get_run per set_terminated and litters stdout.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # Databricks calls go through the Databricks SDK, which retries 429/503 honouring Retry-After
    # until this many seconds have passed (MLflow's default: 500 s per call, before our own retries).
    os.environ.setdefault("MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT", "60")
