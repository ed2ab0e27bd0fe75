"""Databricks host credentials are resolved once per workspace, not once per API call.

MLflow resolves a `databricks` URI's credentials for every request (a new `WorkspaceClient`:
credential chain and one GET of `/.well-known/databricks-config`). mlflow-syncer keeps them per
workspace (syncer.backends.databricks_creds), so a `migrate` process asks the workspace's discovery
endpoint exactly three times: the start-up credential check, the one kept resolution, and MLflow's
own cached request client. Before, the same migrate asked 92 times for 64 API requests. OAuth tokens
are not frozen by the kept credentials: the SDK's request client still fetches them as they expire.
"""

from __future__ import annotations

import uuid
from collections import Counter

from mlflow import MlflowClient

from syncer.backends import databricks_creds
from tests.compare import snapshot
from tests.fixtures.cli import cli_env, run_forked, write_config
from tests.fixtures.workload import make_workload
from tests.test_databricks_to_azureml import USER

DISCOVERY = "GET /.well-known/databricks-config"
OIDC = "GET /oidc/.well-known/oauth-authorization-server"


def migrate(workspace, dest_url: str, prefix: str, tmp_path, **env: str) -> Counter:
    """Run `mlflow-syncer migrate` from the emulated workspace; the workspace's requests it made."""
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": "databricks", "registry_uri": "databricks"},
        destination={"tracking_uri": dest_url},
        experiments=[f"{prefix}/*"],
        state=f"sqlite:///{tmp_path / 'state.db'}",
        workers=8,
    )
    before = Counter(workspace.gateway.counts)
    result = run_forked("migrate", "--config", str(config), "--no-progress", env=cli_env(**env))
    assert result.returncode == 0, result.stderr
    return workspace.gateway.counts - before


def api_requests(counts: Counter) -> int:
    return sum(n for key, n in counts.items() if key.startswith("class "))


def test_a_migrate_resolves_the_workspace_three_times(
    databricks_env, dest_server, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    names = make_workload(src, f"{USER}/{unique_name}/w", runs_per_experiment=3).experiments
    expected = snapshot(src, names, dest=False)
    counts = migrate(
        databricks_env,
        dest_server.url,
        f"{USER}/{unique_name}",
        tmp_path,
        DATABRICKS_HOST=databricks_env.url,
        DATABRICKS_TOKEN=databricks_env.token,
    )
    # Run reads, artifact listings and read credentials of 6 runs (and 1 parent) with 8 workers.
    assert api_requests(counts) >= 60
    assert counts[DISCOVERY] == 3  # before: 92 for 64 API requests
    dest_names = [n.removeprefix(f"{USER}/") for n in names]
    got = snapshot(MlflowClient(dest_server.url), dest_names, dest=True)
    assert [got[d] for d in dest_names] == [expected[s] for s in names]


def test_kept_credentials_never_freeze_an_oauth_token(
    databricks_env, dest_server, unique_name, tmp_path, monkeypatch
):
    """Tokens announced to expire at once: the SDK fetches a token per request, and every request
    carries one the workspace still accepts, while host and OIDC discovery stay at three each."""
    client_id, secret = str(uuid.uuid4()), f"dose{uuid.uuid4().hex}"
    rules = databricks_env.rules
    rules.service_principals[client_id] = secret
    rules.token_lifetime = (40, 40.0)  # the SDK treats a token as expired 40 s before its expiry
    src = MlflowClient(databricks_env.server.url)
    names = make_workload(src, f"{USER}/{unique_name}/w", runs_per_experiment=1).experiments
    expected = snapshot(src, names, dest=False)
    monkeypatch.delenv("DATABRICKS_TOKEN")
    try:
        counts = migrate(
            databricks_env,
            dest_server.url,
            f"{USER}/{unique_name}",
            tmp_path,
            DATABRICKS_CLIENT_ID=client_id,
            DATABRICKS_CLIENT_SECRET=secret,
            HOME=str(tmp_path),
        )
    finally:
        rules.token_lifetime = (3600, float("inf"))
    assert counts["reply 401"] == 0
    # A fresh token for every request (404s of APIs Databricks lacks included) and the start-up
    # check's.
    assert api_requests(counts) >= 20
    assert counts["POST /oidc/v1/token"] == api_requests(counts) + counts["reply 404"] + 1
    assert (counts[DISCOVERY], counts[OIDC]) == (3, 3)  # before: 48 and 48 for 28 API requests
    dest_names = [n.removeprefix(f"{USER}/") for n in names]
    got = snapshot(MlflowClient(dest_server.url), dest_names, dest=True)
    assert [got[d] for d in dest_names] == [expected[s] for s in names]


def test_the_kept_answer_follows_the_auth_environment(databricks_env, monkeypatch):
    """One resolution per workspace and auth environment: another DATABRICKS_HOST is another
    answer."""
    databricks_creds.forget()
    before = databricks_env.gateway.counts[DISCOVERY]
    first = databricks_creds.host_creds("databricks")
    assert (
        databricks_creds.host_creds("databricks-uc") is first
    )  # the same workspace: same profile, same env
    assert databricks_env.gateway.counts[DISCOVERY] - before == 1
    monkeypatch.setenv("DATABRICKS_HOST", databricks_env.url + "/")
    assert databricks_creds.host_creds("databricks") is not first
    assert (first.host, first.use_databricks_sdk) == (databricks_env.url, True)
