"""The one place that decides what a failure means: transient, terminal for one object, or fatal.

Transient failures are retried here (tenacity, exponential backoff with jitter). MLflow's own HTTP layer
retries 429/5xx underneath and honours Retry-After; `configure_http_retries` keeps that inner layer
short so that a dead server fails in seconds to minutes rather than half an hour.
"""

from __future__ import annotations

import os
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
    if isinstance(exc, OSError):
        return Kind.TRANSIENT if "reset" in str(exc).lower() else Kind.TERMINAL
    return Kind.TERMINAL


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a failure."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MlflowException):
        text = text.split(". Response body:")[0]
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
    """Run one API call against an endpoint: rate limited, counted, transient failures retried."""
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
    """Keep MLflow's inner HTTP retries short unless the user chose otherwise (see docs/RELIABILITY.md).

    Also stop MlflowClient.set_terminated from printing a run link, which costs a hidden get_run per run.
    """
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
