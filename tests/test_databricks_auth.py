"""Databricks unified auth against the emulated workspace: a `~/.databrickscfg` profile named in the
tracking URI (`databricks://<profile>`), and an OAuth service principal (machine-to-machine: the SDK
gets a token from the workspace's OAuth server). Both migrate the standard workload exactly,
artifacts included (the profile travels into `dbfs://<profile>@databricks/...` artifact URIs)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.compare import assert_same

AUTH_ENV = (
    "DATABRICKS_HOST",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CONFIG_PROFILE",
    "DATABRICKS_CLIENT_ID",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_CONFIG_FILE",
    "DATABRICKS_AUTH_TYPE",
)


@pytest.fixture
def clean_auth(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in AUTH_ENV:
        monkeypatch.delenv(name, raising=False)


def migrate_exactly(
    uri: str, workspace, dest_url: str, workload_factory, prefix: str, tmp_path
) -> Counter:
    """Copy a one-run-per-experiment workload from the emulated workspace; return the requests it
    saw."""
    src = MlflowClient(workspace.server.url)
    w = workload_factory(src, prefix, runs_per_experiment=1)
    before = Counter(workspace.gateway.counts)
    result = sync(
        Settings(
            source=EndpointConfig(tracking_uri=uri, registry_uri="databricks"),
            destination=EndpointConfig(tracking_uri=dest_url),
            state=f"sqlite:///{tmp_path}/s.db",
            experiments=[f"{prefix}/*"],
        )
    )
    assert not result.failed, [o.error for o in result.failed]
    assert_same(src, MlflowClient(dest_url), w.experiments)
    return workspace.gateway.counts - before


def test_a_config_profile_named_in_the_tracking_uri(
    clean_auth, databricks_source, dest_server, workload_factory, unique_name, tmp_path
):
    (tmp_path / ".databrickscfg").write_text(
        # the default profile answers 401 if used
        f"[DEFAULT]\nhost = {databricks_source.url}\ntoken = not-this-one\n\n"
        f"[emulated]\nhost = {databricks_source.url}\ntoken = {databricks_source.token}\n"
    )
    seen = migrate_exactly(
        "databricks://emulated",
        databricks_source,
        dest_server.url,
        workload_factory,
        unique_name,
        tmp_path,
    )
    assert seen["reply 401"] == 0  # the DEFAULT profile was never used


@pytest.mark.parametrize(
    ("tracking", "registry", "resolved"),
    [
        ("databricks://prod", "databricks", "databricks://prod"),
        ("databricks://prod", "databricks-uc", "databricks-uc://prod"),
        ("databricks://prod", "databricks-uc://other", "databricks-uc://other"),
        ("databricks", "databricks", "databricks"),
    ],
)
def test_a_bare_registry_uri_follows_the_tracking_uris_profile(tracking, registry, resolved):
    assert Endpoint(tracking, registry).resolved_registry_uri == resolved


def test_an_oauth_service_principal(
    clean_auth, databricks_source, dest_server, workload_factory, unique_name, tmp_path, monkeypatch
):
    client_id, secret = str(uuid.uuid4()), f"dose{uuid.uuid4().hex}"
    databricks_source.rules.service_principals[client_id] = secret
    monkeypatch.setenv("DATABRICKS_HOST", databricks_source.url)
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", client_id)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", secret)
    seen = migrate_exactly(
        "databricks", databricks_source, dest_server.url, workload_factory, unique_name, tmp_path
    )
    assert seen["POST /oidc/v1/token"] >= 1 and seen["reply 401"] == 0


def test_a_wrong_service_principal_secret_is_one_line_and_exit_2(
    clean_auth, databricks_source, tmp_path, monkeypatch, capsys
):
    client_id = str(uuid.uuid4())
    databricks_source.rules.service_principals[client_id] = "the-right-secret"
    monkeypatch.setenv("DATABRICKS_HOST", databricks_source.url)
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", client_id)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "dose-WRONG-secret")
    argv = [
        "migrate",
        "--no-progress",
        "--state",
        f"sqlite:///{tmp_path}/st.db",
        "--source",
        "databricks",
        "--source-registry",
        "databricks",
        "--dest",
        f"sqlite:///{tmp_path}/d.db",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Databricks credentials" in err[0], err
    assert "dose-WRONG-secret" not in err[0]
    assert not (tmp_path / "d.db").exists()
