"""The one place that decides what a failure means: transient, terminal for one object, or fatal.

Failures are judged by what they carry, in this order: our own `SyncError` kind, the HTTP status,
the MLflow error code, the exception type (and the exceptions it wraps). Text is read in two cases
only: where MLflow keeps the HTTP status nowhere else (`_REST_STATUS`), and a SQL store's lost
insert race (`_UNIQUE_RACE`). `describe` turns a failure into one secret-free line;
`unreachable_reason` says why a whole endpoint cannot be reached; `retry_after` reads a server's
`Retry-After`. The retry loop that acts on these answers is `syncer.backends.calls`.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.client import RemoteDisconnected

import requests
import urllib3
from mlflow.exceptions import MlflowException, RestException
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from syncer.core.errors import Kind, SyncError
from syncer.core.redact import redact

# MLflow error codes (mlflow/protos/databricks.proto). A REST error answer with a JSON body becomes
# a RestException carrying the body's code; MLflow's own client-side failures default to
# INTERNAL_ERROR, among them every failure of its HTTP layer (`rest_utils.http_request`: connection
# refused or reset, timeouts, urllib3 giving up after too many 408/429/5xx answers), so
# INTERNAL_ERROR is transient. Those are raised inside `except` and wrap the network error
# (`__context__`); an INTERNAL_ERROR that wraps nothing, is no REST answer and quotes no response
# body was raised by the client before any request: an argument the store refuses (Unity Catalog's
# `_require_arg_unspecified`: "Argument 'filter_string' is unsupported for models in the Unity
# Catalog."), terminal (`_refused_by_client`).
_TRANSIENT_CODES = {
    "INTERNAL_ERROR",
    "TEMPORARILY_UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "REQUEST_LIMIT_EXCEEDED",
    "RESOURCE_EXHAUSTED",
    "ABORTED",
    "CANCELLED",
}
_FATAL_CODES = {"UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"}
# A REST answer refusing an authenticated caller one object (Databricks: an experiment it may not
# view, a Unity Catalog model without EXECUTE; `{"error_code": "PERMISSION_DENIED", ...}`, HTTP 403)
# is terminal for that object. Only at an endpoint's first contact (its first call, the first
# listing) is it the whole endpoint refusing the caller: fatal (`classify(..., first_contact=True)`,
# decided in `calls.call`).
_DENIED_CODE = "PERMISSION_DENIED"

# mlflow/utils/rest_utils.py, verify_rest_response: an error answer whose body is not JSON (Flask's
# own 404/405 page, a gateway's or an auth proxy's HTML) raises MlflowException("API request to
# endpoint E failed with error code S != 200. Response body: '...'") with an error code guessed from
# the status (`exceptions.get_error_code`: 405, 413, 501, 502... all become INTERNAL_ERROR or
# NOT_IMPLEMENTED). The status itself is kept nowhere but in this text. The body (a whole HTML page)
# is cut off by `describe`.
_REST_STATUS = re.compile(r"failed with error code (\d{3}) != \d{3}\. Response body:")
# The second case: MLflow's SQL store checks which datasets of a log_inputs exist, then inserts the
# others; runs sharing one dataset, logged side by side, race between the two and the loser answers
# BAD_REQUEST with the database's uniqueness error on the datasets (or inputs) table: SQLite "UNIQUE
# constraint failed: datasets.experiment_id, datasets.name, datasets.digest", PostgreSQL/MySQL
# naming the key `dataset_pk` (mlflow/store/tracking/dbmodels/models.py). The row is there now:
# asking again finds it (transient). Other uniqueness errors stay terminal (a re-sent NaN metric
# point: syncer.apply.exactly_once).
_UNIQUE_RACE = re.compile(
    r"(UNIQUE constraint failed: (datasets|inputs)\."
    r"|violates unique constraint \"(dataset_pk|inputs_pk)\""
    r"|Duplicate entry .* for key '(datasets\.PRIMARY|dataset_pk)')"
)
_RESPONSE_BODY = ". Response body:"

# Errors of the network itself, raised bare by requests (plain HTTP: signed URLs, streamed artifact
# bodies read after `http_request` returned, e.g. `HttpArtifactRepository._download_file`) or the
# standard library. RetryError: urllib3 gave up after too many answers with a retried status
# (408/429/5xx). ChunkedEncodingError: a body cut mid-transfer (connection reset or fewer bytes than
# Content-Length).
_NETWORK = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.RetryError,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
    TimeoutError,
)


def by_status(status: int) -> Kind:
    """The kind of an HTTP error status: 401/403 fatal, 408/429/5xx transient, any other terminal
    (storage and signed URLs; an MLflow REST 403 is `denied`)."""
    if status in (401, 403):
        return Kind.FATAL
    if status in (408, 429) or status >= 500:
        return Kind.TRANSIENT
    return Kind.TERMINAL


def rest_status(exc: MlflowException) -> int | None:
    """The HTTP status of an MLflow REST failure whose answer was not JSON (see `_REST_STATUS`), if
    any."""
    match = _REST_STATUS.search(str(exc))
    return int(match[1]) if match else None


def denied(exc: BaseException) -> bool:
    """True for an MLflow REST answer refusing the caller something (HTTP 403 or PERMISSION_DENIED),
    not its credentials (401, UNAUTHENTICATED)."""
    if not isinstance(exc, MlflowException):
        return False
    status = rest_status(exc)
    return status == 403 if status is not None else exc.error_code == _DENIED_CODE


def classify(exc: BaseException, *, first_contact: bool = False) -> Kind:
    """Decide whether a failure is worth retrying, skippable for one object, or fatal for the run.

    `first_contact`: the failure answered an endpoint's first call, so a refusal is the endpoint's
    (fatal)."""
    if isinstance(exc, SyncError):
        return exc.kind
    if denied(exc):
        return Kind.FATAL if first_contact else Kind.TERMINAL
    if isinstance(exc, MlflowException):
        return _classify_mlflow(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return by_status(exc.response.status_code)
    if isinstance(exc, _NETWORK):
        return Kind.TRANSIENT
    azure_kind = _classify_azure(exc)
    if azure_kind is not None:
        return azure_kind
    return Kind.TERMINAL


def _classify_mlflow(exc: MlflowException) -> Kind:
    """By HTTP status where MLflow kept one, else by error code."""
    status = rest_status(exc)
    if status is not None:
        return by_status(status)
    if exc.error_code in _FATAL_CODES:
        return Kind.FATAL
    if exc.error_code == "BAD_REQUEST" and _UNIQUE_RACE.search(str(exc)):
        return Kind.TRANSIENT
    if _refused_by_client(exc):
        return Kind.TERMINAL
    if exc.error_code in _TRANSIENT_CODES:
        return Kind.TRANSIENT
    return Kind.TERMINAL


def _refused_by_client(exc: MlflowException) -> bool:
    """True for MLflow's own refusal of a call before any request (see `_TRANSIENT_CODES`): the
    default code, not a REST answer, no response body quoted, nothing wrapped (`http_request` raises
    inside `except`)."""
    return (
        exc.error_code == "INTERNAL_ERROR"
        and not isinstance(exc, RestException)
        and exc.__cause__ is None
        and exc.__context__ is None
        and _RESPONSE_BODY not in str(exc)
    )


def _classify_azure(exc: BaseException) -> Kind | None:
    """Azure SDK failures (blob transfer, credentials): network trouble and 408/429/5xx are
    transient."""
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
        return by_status(exc.status_code or 0)
    return None


def _wrapped(exc: BaseException) -> Iterator[BaseException]:
    """The failure and every exception inside it, outermost first.

    MLflow's `http_request` raises its MlflowException inside `except`, so the requests error is its
    `__context__`; requests keeps urllib3's MaxRetryError in `args`, which keeps the cause in
    `reason`. A bare TimeoutError is the Databricks SDK giving up its own retries ("Timed out after
    ...", raised from the last error it saw): what it wraps is not followed, as before (`describe`
    reports it).
    """
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if type(e) is not TimeoutError:
            todo += [e.__cause__, e.__context__]
        todo += [getattr(e, "reason", None), *e.args]


# Why an endpoint cannot be reached, by the type of the innermost network error; where a failure
# wraps several, the first reason of this list wins (a refused connection also wraps a
# NewConnectionError).
_REASONS = (
    "connection refused",
    "unknown host",
    "cannot connect",
    "connection timed out",
    "no answer (read timed out)",
    "connection closed without answer",
    "connection reset",
)


def _reason(e: BaseException) -> str | None:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.gaierror, NameResolutionError)):
        return "unknown host"
    if isinstance(e, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3 2
        return "cannot connect"
    if isinstance(e, (ConnectTimeoutError, requests.ConnectTimeout)):
        return "connection timed out"
    if isinstance(e, (ReadTimeoutError, requests.ReadTimeout)):
        return "no answer (read timed out)"
    if isinstance(e, RemoteDisconnected):  # a subclass of ConnectionResetError
        return "connection closed without answer"
    if isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return "connection reset"
    return None


# Answers that mean "this endpoint has no such API" (a route it does not know, a store that does not
# implement it, a feature switched off), as opposed to a failure of the call.
_NOT_OFFERED_STATUS = frozenset({404, 405, 501})
_NOT_OFFERED_CODES = frozenset({"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED", "FEATURE_DISABLED"})


def not_offered(exc: BaseException) -> bool:
    """True when a failure says the endpoint does not offer the API called (404/405/501, not
    implemented)."""
    if isinstance(exc, NotImplementedError):
        return True
    if isinstance(exc, MlflowException):
        return exc.error_code in _NOT_OFFERED_CODES or rest_status(exc) in _NOT_OFFERED_STATUS
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in _NOT_OFFERED_STATUS
    return False


def unreachable_reason(exc: BaseException) -> str | None:
    """Why an endpoint as a whole cannot be reached (connection-level failure), or None."""
    if not isinstance(
        exc,
        (
            requests.ConnectionError,
            requests.Timeout,
            ConnectionError,
            TimeoutError,
            MlflowException,
        ),
    ):
        return None
    found = {reason for e in _wrapped(exc) if (reason := _reason(e)) is not None}
    return next((reason for reason in _REASONS if reason in found), None)


def last_status(exc: BaseException) -> str:
    """The last status a failure shows, for people: "HTTP 503", "HTTP 429 REQUEST_LIMIT_EXCEEDED",
    "connection refused", or the urllib3 verdict ("too many 503 error responses") when MLflow's own
    retries gave up."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, MlflowException):
        status = rest_status(exc)
        if status is not None:
            return f"HTTP {status}"
        if exc.error_code != "INTERNAL_ERROR":
            return f"HTTP {exc.get_http_status_code()} {exc.error_code}"
    status = getattr(exc, "status_code", None)  # azure.core HttpResponseError
    if isinstance(status, int):
        return f"HTTP {status}"
    verdict = next(
        (e for e in _wrapped(exc) if isinstance(e, urllib3.exceptions.ResponseError)), None
    )
    if verdict is not None:
        return str(verdict)
    return unreachable_reason(exc) or type(exc).__name__


def describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a failure."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MlflowException):
        text = text.split(_RESPONSE_BODY)[0]
    cause = exc.__cause__
    if isinstance(exc, TimeoutError) and cause is not None and str(cause).strip():
        # The Databricks SDK gives up on retrying 429/503 with a bare "Timed out after ...".
        text += f" (last error: {type(cause).__name__}: {str(cause).strip().splitlines()[0]})"
    return redact(text)[:500]


def retry_after(exc: BaseException | None) -> float | None:
    """The seconds a server asked us to wait (`Retry-After`: seconds or an HTTP date), if the
    failure says."""
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
