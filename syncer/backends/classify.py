"""The one place that decides what a failure means: transient, terminal for one object, or fatal.

`describe` turns a failure into one secret-free line; `unreachable_reason` says why a whole endpoint cannot
be reached; `retry_after` reads a server's `Retry-After`. The retry loop that acts on these answers is
`syncer.backends.calls`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests
from mlflow.exceptions import MlflowException

from syncer.core.errors import Kind, SyncError
from syncer.core.redact import redact

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
