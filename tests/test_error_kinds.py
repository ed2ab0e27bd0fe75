"""What `classify` says about each failure MLflow, requests and the Azure SDK really raise, and what
`describe` prints for it (one line, no secret). Every failure comes from a real call: a real `mlflow
server`, a refused or silent socket, the fault-injecting proxy, a locked SQLite store, Azurite."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.service_pb2 import SearchExperiments
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
from mlflow.utils.request_utils import cloud_storage_http_request
from mlflow.utils.rest_utils import MlflowHostCreds, call_endpoint

from syncer.backends.classify import (
    classify,
    describe,
    rest_status,
    retry_after,
    unreachable_reason,
)
from syncer.core.errors import Kind
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.procs import free_port

SECRET = "s3cr3t-pw-42"


@pytest.fixture(autouse=True)
def _one_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's own HTTP layer tries once, so each failure surfaces at once and as MLflow raises
    it."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")


def raised(fn: Callable[[], object]) -> BaseException:
    """The exception a real call raises."""
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


def described(exc: BaseException, *expected: str) -> str:
    """describe(exc), checked: one line, no secret, the expected words."""
    line = describe(exc)
    assert "\n" not in line and line.strip(), line
    assert SECRET not in line and "<html" not in line.lower(), line
    for text in expected:
        assert text in line, line
    return line


def with_secret(url: str) -> str:
    return url.replace("http://", f"http://syncer:{SECRET}@")


class OneShot:
    """A loopback server that reads each request and then answers with `answer` (raw bytes; b""
    closes); `accepted` counts the connections."""

    def __init__(self, answer: bytes) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.answer, self.accepted = answer, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with conn:
                conn.recv(65536)
                if self.answer:
                    conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


def answer(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def html(status: str) -> bytes:
    body = (
        b"<html><body><h1>"
        + status.encode()
        + b"</h1>sign in at https://sso.example/</body></html>"
    )
    return answer(status, body, "text/html")


@pytest.fixture
def one_shot() -> Iterator[Callable[[bytes], OneShot]]:
    made: list[OneShot] = []
    yield lambda answer: made.append(OneShot(answer)) or made[-1]
    for server in made:
        server.close()


# --- the network: MLflow wraps urllib3/requests failures in MlflowException(INTERNAL_ERROR)
# ---------------


def test_connection_refused():
    exc = raised(
        lambda: MlflowClient(with_secret(f"http://127.0.0.1:{free_port()}")).search_experiments()
    )
    assert isinstance(exc, MlflowException) and exc.error_code == "INTERNAL_ERROR"
    assert classify(exc) is Kind.TRANSIENT
    assert unreachable_reason(exc) == "connection refused"
    described(exc, "failed with exception")


def test_unknown_host():
    exc = raised(lambda: MlflowClient("http://no-such-host.invalid:5000").search_experiments())
    assert classify(exc) is Kind.TRANSIENT
    assert unreachable_reason(exc) == "unknown host"


def test_read_timeout_from_a_server_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # the shortest MLflow takes
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts into its backlog, never reads
        exc = raised(
            lambda: MlflowClient(f"http://127.0.0.1:{silent.getsockname()[1]}").search_experiments()
        )
    assert classify(exc) is Kind.TRANSIENT
    assert unreachable_reason(exc) == "no answer (read timed out)"
    described(exc)


def test_connection_closed_without_answer(one_shot):
    server = one_shot(b"")
    exc = raised(lambda: MlflowClient(server.url).search_experiments())
    assert classify(exc) is Kind.TRANSIENT
    assert unreachable_reason(exc) == "connection closed without answer"


def test_connection_reset(source_server, fault_proxy):
    proxy = fault_proxy(
        source_server.url, FaultConfig(rules=[Rule("/experiments/search", "reset")])
    )
    exc = raised(lambda: MlflowClient(with_secret(proxy.url)).search_experiments())
    assert classify(exc) is Kind.TRANSIENT
    assert unreachable_reason(exc) == "connection reset"
    described(exc)


def test_body_cut_mid_download_is_transient(source_server, fault_proxy, tmp_path):
    """HttpArtifactRepository._download_file reads the body after http_request returned: a bare
    requests error."""
    (tmp_path / "big.bin").write_bytes(b"x" * 200_000)
    root = "/api/2.0/mlflow-artifacts/artifacts/error-kinds"
    HttpArtifactRepository(source_server.url + root).log_artifact(str(tmp_path / "big.bin"))
    proxy = fault_proxy(
        source_server.url, FaultConfig(rules=[Rule("/big.bin", "truncate", method="GET")])
    )
    exc = raised(
        lambda: HttpArtifactRepository(proxy.url + root)._download_file(
            "big.bin", str(tmp_path / "o")
        )
    )
    assert isinstance(exc, requests.exceptions.ChunkedEncodingError), repr(exc)
    assert classify(exc) is Kind.TRANSIENT
    described(exc)


# --- error answers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["429", "500", "503"])
def test_busy_or_failing_server_is_transient(status, source_server, fault_proxy):
    proxy = fault_proxy(
        source_server.url, FaultConfig(rules=[Rule("/experiments/search", status, times=2)])
    )
    # through MLflow: urllib3 gives up on the retried status (requests RetryError) inside
    # http_request
    exc = raised(lambda: MlflowClient(proxy.url).search_experiments())
    assert isinstance(exc, MlflowException) and isinstance(
        exc.__context__, requests.exceptions.RetryError
    )
    assert classify(exc) is Kind.TRANSIENT and unreachable_reason(exc) is None
    described(exc, f"too many {status} error responses")
    # presigned URLs read by MLflow (request_utils.cloud_storage_http_request): a bare RetryError
    url = f"{proxy.url}/api/2.0/mlflow/experiments/search"
    exc = raised(lambda: cloud_storage_http_request("get", url, max_retries=0, timeout=10))
    assert isinstance(exc, requests.exceptions.RetryError) and classify(exc) is Kind.TRANSIENT
    # plain HTTP (signed URLs): the HTTPError keeps the response, and with it Retry-After
    proxy.configure(FaultConfig(rules=[Rule("/experiments/search", status)]))
    answer = requests.get(url, timeout=10)
    exc = raised(answer.raise_for_status)
    assert classify(exc) is Kind.TRANSIENT
    assert retry_after(exc) == (1.0 if status == "429" else None)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_fatal(status, source_server, fault_proxy, one_shot):
    # a JSON error answer: RestException with the body's error code
    proxy = fault_proxy(source_server.url, FaultConfig(status_all=status))
    exc = raised(lambda: MlflowClient(with_secret(proxy.url)).search_experiments())
    # PERMISSION_DENIED (the body keeps no status): one object refused, unless it answered the first
    # call
    assert exc.error_code == "PERMISSION_DENIED" and classify(exc, first_contact=True) is Kind.FATAL
    assert classify(exc) is Kind.TERMINAL
    described(exc, "PERMISSION_DENIED")
    # an HTML page from an auth proxy: MlflowException with the status in its text only; 401 is
    # always fatal
    text = {401: "401 Unauthorized", 403: "403 Forbidden"}[status]
    exc = raised(lambda: MlflowClient(with_secret(one_shot(html(text)).url)).search_experiments())
    assert rest_status(exc) == status and classify(exc, first_contact=True) is Kind.FATAL
    assert classify(exc) is {401: Kind.FATAL, 403: Kind.TERMINAL}[status]
    assert "sso.example" in str(exc)  # the page is in the exception, not in the line printed
    assert "sso.example" not in described(exc, f"error code {status}")


def test_missing_object_is_terminal(source_server):
    exc = raised(lambda: MlflowClient(source_server.url).get_run("0" * 32))
    assert exc.error_code == "RESOURCE_DOES_NOT_EXIST" and classify(exc) is Kind.TERMINAL
    assert described(exc) == f"RESOURCE_DOES_NOT_EXIST: Run with id={'0' * 32} not found"


def test_invalid_parameter_is_terminal(source_server):
    exc = raised(lambda: MlflowClient(source_server.url).create_experiment(""))
    assert exc.error_code == "INVALID_PARAMETER_VALUE" and classify(exc) is Kind.TERMINAL
    described(exc, "INVALID_PARAMETER_VALUE")


def test_an_argument_the_client_refuses_before_any_request_is_terminal(monkeypatch, one_shot):
    """Unity Catalog's registry refuses `filter_string` in MLflow's own code
    (`_require_arg_unspecified`): an MlflowException with the default INTERNAL_ERROR code, raised
    before any request, that no retry can mend."""
    workspace = one_shot(answer("200 OK", b'{"registered_models": []}'))
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", SECRET)
    client = MlflowClient(tracking_uri="databricks", registry_uri="databricks-uc")
    exc = raised(lambda: client.search_registered_models(filter_string="name = 'm'"))
    assert type(exc) is MlflowException and exc.error_code == "INTERNAL_ERROR"
    assert exc.__context__ is None and exc.__cause__ is None
    assert classify(exc) is Kind.TERMINAL
    assert (
        described(exc) == "Argument 'filter_string' is unsupported for models in the Unity Catalog."
    )
    assert workspace.accepted == 0  # no request was made
    assert (
        list(client.search_registered_models()) == [] and workspace.accepted >= 1
    )  # the same client works


def test_internal_errors_from_answers_stay_transient(one_shot):
    """What the server answered: a 200 whose body is not JSON (a gateway's page mid-restart: MLflow
    raises a bare INTERNAL_ERROR quoting the body) and a JSON INTERNAL_ERROR answer (RestException)
    stay transient."""
    exc = raised(
        lambda: MlflowClient(
            one_shot(answer("200 OK", b"<html>restarting</html>", "text/html")).url
        ).search_experiments()
    )
    assert (
        type(exc) is MlflowException
        and exc.error_code == "INTERNAL_ERROR"
        and exc.__context__ is None
    )
    assert classify(exc) is Kind.TRANSIENT
    described(exc, "response body was not in a valid JSON format")
    body = b'{"error_code": "INTERNAL_ERROR", "message": "store hiccup"}'
    exc = raised(
        lambda: MlflowClient(one_shot(answer("400 Bad Request", body)).url).search_experiments()
    )
    assert isinstance(exc, RestException) and exc.error_code == "INTERNAL_ERROR"
    assert classify(exc) is Kind.TRANSIENT
    assert described(exc) == "INTERNAL_ERROR: store hiccup"


def test_non_json_error_answers_are_judged_by_their_status(source_server):
    """Flask's own 404 and 405 pages: MLflow guesses ENDPOINT_NOT_FOUND and INTERNAL_ERROR from the
    status."""
    exc = raised(lambda: MlflowClient(f"{source_server.url}/not/mlflow").search_experiments())
    assert exc.error_code == "ENDPOINT_NOT_FOUND" and rest_status(exc) == 404
    assert classify(exc) is Kind.TERMINAL
    described(exc, "failed with error code 404 != 200")
    creds = MlflowHostCreds(source_server.url)
    exc = raised(
        lambda: call_endpoint(
            creds, "/api/2.0/mlflow/experiments/search", "PUT", "{}", SearchExperiments.Response()
        )
    )
    assert (
        exc.error_code == "INTERNAL_ERROR" and rest_status(exc) == 405
    )  # the code alone would say transient
    assert classify(exc) is Kind.TERMINAL
    described(exc, "failed with error code 405 != 200")


def test_locked_sqlite_store_is_transient(tmp_path):
    """MLflow's managed session (store/db/utils.py) turns OperationalError into
    TEMPORARILY_UNAVAILABLE."""
    db = tmp_path / "mlflow.db"
    client = MlflowClient(f"sqlite:///{db}")
    client.search_experiments()  # creates the schema
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        exc = raised(lambda: client.create_experiment("locked"))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert exc.error_code == "TEMPORARILY_UNAVAILABLE" and classify(exc) is Kind.TRANSIENT
    described(exc, "database is locked")


# --- Azure Blob (Azurite)
# -------------------------------------------------------------------------------


def _blob(azurite, url: str | None = None, key: str | None = None):
    from azure.storage.blob import BlobServiceClient

    from tests.fixtures.azure import ACCOUNT, KEY

    service = BlobServiceClient(
        url or f"http://127.0.0.1:{azurite.port}/{ACCOUNT}",
        credential={"account_name": ACCOUNT, "account_key": key or KEY},
        retry_total=0,
    )
    return service.get_blob_client(azurite.container("error-kinds"), "missing.bin")


def test_azure_blob_failures(azurite, fault_proxy):
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError

    from tests.fixtures.azure import ACCOUNT

    exc = raised(lambda: _blob(azurite).download_blob().readall())
    assert isinstance(exc, ResourceNotFoundError) and classify(exc) is Kind.TERMINAL
    described(exc, "The specified blob does not exist")
    wrong_key = "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="
    exc = raised(lambda: _blob(azurite, key=wrong_key).download_blob().readall())
    assert (
        isinstance(exc, HttpResponseError) and exc.status_code == 403
    )  # Azurite: AuthorizationFailure
    assert classify(exc) is Kind.FATAL
    assert wrong_key not in described(exc, "Server failed to authenticate the request")
    proxy = fault_proxy(
        f"http://127.0.0.1:{azurite.port}", FaultConfig(rules=[Rule("/missing.bin", "503")])
    )
    exc = raised(lambda: _blob(azurite, url=f"{proxy.url}/{ACCOUNT}").download_blob().readall())
    assert exc.status_code == 503 and classify(exc) is Kind.TRANSIENT
    described(exc)
    exc = raised(
        lambda: _blob(azurite, url=f"http://127.0.0.1:{free_port()}/{ACCOUNT}").download_blob()
    )
    assert isinstance(exc, ServiceRequestError) and classify(exc) is Kind.TRANSIENT
    described(exc)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # Runs sharing a dataset, logged side by side into a 3.x server (issue 28): the dataset is
        # there now.
        (
            "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
            "datasets.name, "
            "datasets.digest",
            Kind.TRANSIENT,
        ),
        (
            "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
            '"dataset_pk"',
            Kind.TRANSIENT,
        ),
        # A re-sent NaN metric point hits the metrics key: terminal (syncer.apply.exactly_once sends
        # the rest).
        (
            "(sqlite3.IntegrityError) UNIQUE constraint failed: metrics.key, metrics.timestamp, "
            "metrics.step, "
            "metrics.run_uuid, metrics.value, metrics.is_nan",
            Kind.TERMINAL,
        ),
    ],
)
def test_a_lost_dataset_insert_race_is_transient(message, kind):
    """What MLflow's SQL store answers (BAD_REQUEST, the database's own text) decides the kind."""
    exc = RestException({"error_code": "BAD_REQUEST", "message": message})
    assert classify(exc) is kind
