"""Azure start-up check with a managed identity: a token is really issued (by an emulated App
Service identity endpoint, tests/emulators/identity.py) through azure-identity and MSAL, for the
identity the azureml-mlflow plugin's DefaultAzureCredential would use; a host without one fails with
one line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mlflow import MlflowClient

from syncer.backends import auth
from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from tests.emulators.identity import IdentityEndpoint
from tests.test_databricks_azureml_edges import AZUREML_URI

OTHER_AZURE_ENV = (
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_FEDERATED_TOKEN_FILE",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
)


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in OTHER_AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", endpoint.url)
    monkeypatch.setenv("IDENTITY_HEADER", endpoint.header)
    yield endpoint
    endpoint.stop()


def test_a_system_assigned_managed_identity_passes_the_start_up_check(identity):
    auth.check_azure(Endpoint(AZUREML_URI))
    assert [(r.resource, r.client_id, r.header_ok) for r in identity.requests] == [
        ("https://management.azure.com", None, True)
    ]
    assert len(identity.issued) == 1


def test_a_user_assigned_identity_is_asked_for_by_its_client_id(identity, monkeypatch):
    monkeypatch.setenv(
        "AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555"
    )  # as DefaultAzureCredential
    auth.check_azure(Endpoint(AZUREML_URI))
    assert [(r.client_id, r.header_ok) for r in identity.requests] == [
        ("11111111-2222-3333-4444-555555555555", True)
    ]


def test_a_host_without_managed_identity_fails_with_one_line_and_writes_nothing(
    identity, tmp_path, capsys
):
    identity.refuse = True
    MlflowClient(
        f"sqlite:///{tmp_path}/s.db"
    ).search_experiments()  # a source store (never created by us)
    capsys.readouterr()
    argv = [
        "migrate",
        "--no-progress",
        "--state",
        f"sqlite:///{tmp_path}/st.db",
        "--source",
        f"sqlite:///{tmp_path}/s.db",
        "--dest",
        AZUREML_URI,
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no usable Azure credential" in err[0], err
    assert identity.requests and not identity.issued
    assert identity.header not in err[0]
