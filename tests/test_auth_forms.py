"""Authentication as users have it, through azure-identity's own DefaultAzureCredential (the
azureml-mlflow plugin's non-interactive chain) and MLflow's own Databricks resolver: an `az login`
(a fake `az` on PATH that answers as the real CLI does), sovereign clouds (`AZUREML_CURRENT_CLOUD`),
the managed identity of Azure ML compute (the emulated identity endpoint,
tests/emulators/identity.py), a service principal's certificate and a workload identity (Entra ID's
token endpoint, tests/emulators/entra.py), the job token inside an Azure ML job, and Databricks
secret-scope URIs.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from syncer.backends import auth
from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from syncer.core.errors import FatalError
from tests.emulators.entra import EntraID
from tests.emulators.identity import IdentityEndpoint
from tests.test_azure_identity import OTHER_AZURE_ENV
from tests.test_databricks_azureml_edges import AZUREML_URI

IDENTITY_ENV = (
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZUREML_CURRENT_CLOUD",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
)


@pytest.fixture
def no_azure_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Azure credential of any kind: an empty HOME, no identity variables, no `az` on PATH."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (*OTHER_AZURE_ENV, *IDENTITY_ENV):
        monkeypatch.delenv(name, raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return bin_dir


@pytest.fixture
def identity() -> Iterator[IdentityEndpoint]:
    endpoint = IdentityEndpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[EntraID]:
    """Entra ID's token endpoint, reached through HTTPS_PROXY, its test CA trusted."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    endpoint = EntraID(ca)
    monkeypatch.setenv("HTTPS_PROXY", endpoint.proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    yield endpoint
    endpoint.stop()


def self_signed(folder: Path) -> tuple[Path, bytes]:
    """A self-signed certificate and its private key in one PEM file
    (AZURE_CLIENT_CERTIFICATE_PATH), and the certificate alone (what is registered with the
    application)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlflow-syncer")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    path = folder / f"sp-{uuid.uuid4().hex[:6]}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + pem
    )
    return path, pem


@pytest.mark.parametrize("form", ["certificate", "workload identity"])
def test_a_certificate_or_a_workload_identity_gets_its_token_from_entra_id(
    no_azure_auth, entra, monkeypatch, tmp_path, form
):
    client = str(uuid.uuid4())
    monkeypatch.setenv("AZURE_TENANT_ID", str(uuid.uuid4()))
    monkeypatch.setenv("AZURE_CLIENT_ID", client)
    if form == "certificate":  # EnvironmentCredential
        path, entra.certificates[client] = self_signed(tmp_path)
        monkeypatch.setenv("AZURE_CLIENT_CERTIFICATE_PATH", str(path))
    else:
        # WorkloadIdentityCredential: the token a Kubernetes service account projects into the pod
        token_file = tmp_path / "azure-identity-token"
        token_file.write_text(
            entra.federated.setdefault(client, f"federated-{secrets.token_hex(8)}")
        )
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    auth.check_azure(Endpoint(AZUREML_URI))
    assert entra.grants == [(client, "ok")] and len(entra.issued) == 1

    if (
        form == "certificate"
    ):  # the application holds another certificate now: the signature is refused
        entra.certificates[client] = self_signed(tmp_path)[1]
    else:
        entra.federated[client] = "another subject's token"
    with pytest.raises(FatalError, match="no usable Azure credential"):
        auth.check_azure(Endpoint(AZUREML_URI))
    assert [why[:13] for _, why in entra.grants[1:]] in (["AADSTS700027:"], ["AADSTS700213:"])


def fake_az(bin_dir: Path) -> Path:
    """An `az` that answers `az account get-access-token` as the Azure CLI does; records its
    arguments."""
    calls = bin_dir / "az-calls.jsonl"
    answer = {
        "accessToken": "cli-token",
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": int(time.time()) + 3600,
        "subscription": "0" * 8,
        "tenant": "1" * 8,
        "tokenType": "Bearer",
    }
    script = bin_dir / "az"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print(json.dumps({answer!r}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return calls


@pytest.mark.parametrize(
    ("cloud", "resource"),
    [
        (None, "https://management.azure.com"),
        ("AzureUSGovernment", "https://management.usgovcloudapi.net"),
        ("AzureChinaCloud", "https://management.chinacloudapi.cn"),
    ],
)
def test_an_az_login_passes_the_check_for_its_cloud(no_azure_auth, monkeypatch, cloud, resource):
    calls = fake_az(no_azure_auth)
    if cloud:
        monkeypatch.setenv("AZUREML_CURRENT_CLOUD", cloud)
    auth.check_azure(Endpoint(AZUREML_URI))
    asked = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(asked) == 1 and asked[0][:2] == ["account", "get-access-token"]
    assert (
        asked[0][asked[0].index("--resource") + 1] == resource
    )  # the management scope of that cloud


def test_azure_ml_computes_managed_identity(no_azure_auth, identity, monkeypatch):
    monkeypatch.setenv("MSI_ENDPOINT", identity.url)  # what Azure ML compute sets, with MSI_SECRET
    monkeypatch.setenv("MSI_SECRET", identity.header)
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "AzureUSGovernment")
    auth.check_azure(Endpoint(AZUREML_URI))
    assert [(r.resource, r.header_ok) for r in identity.requests] == [
        ("https://management.usgovcloudapi.net", True)
    ]
    assert len(identity.issued) == 1


def test_inside_an_azure_ml_job_the_jobs_token_is_used(no_azure_auth, identity, monkeypatch):
    identity.refuse = True  # no credential would answer: the plugin uses the job's token instead
    monkeypatch.setenv("MSI_ENDPOINT", identity.url)
    monkeypatch.setenv("MSI_SECRET", identity.header)
    for name, value in (
        ("MLFLOW_TRACKING_URI", AZUREML_URI),
        ("MLFLOW_TRACKING_TOKEN", "job-token"),
        ("MLFLOW_RUN_ID", "run-1"),
        ("MLFLOW_EXPERIMENT_ID", "exp-1"),
    ):
        monkeypatch.setenv(name, value)
    auth.check_azure(Endpoint(AZUREML_URI))
    assert identity.requests == []
    monkeypatch.delenv("MLFLOW_RUN_ID")  # not a job: the credential chain is asked, and refuses
    with pytest.raises(Exception, match="no usable Azure credential"):
        auth.check_azure(Endpoint(AZUREML_URI))
    assert identity.requests


def test_a_secret_scope_uri_outside_a_databricks_runtime_is_one_clear_line(
    no_azure_auth, tmp_path, capsys
):
    argv = [
        "migrate",
        "--no-progress",
        "--state",
        f"sqlite:///{tmp_path}/st.db",
        "--source",
        "databricks://my-scope:my-prefix",
        "--source-registry",
        "databricks",
        "--dest",
        f"sqlite:///{tmp_path}/d.db",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "secret-scope URI" in err[0]
        and "inside a Databricks runtime only" in err[0]
    ), err
    assert not (tmp_path / "d.db").exists()
