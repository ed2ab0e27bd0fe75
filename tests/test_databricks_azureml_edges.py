"""Rate limits and 429s, name collisions, start-up checks and a write-once file of another size,
against the emulated Databricks and Azure ML ends (tests/emulators/). The resume without artifact
sizes is tests/test_databricks_to_azureml.py's (on its scenario)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import structlog
import yaml
from mlflow import MlflowClient
from mlflow.utils import rest_utils

from syncer.backends.azure_blob import BlobLocation
from syncer.backends.calls import RetryPolicy, call
from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.capabilities import DATABRICKS, RateLimits
from syncer.core.exit_codes import EXIT_ERROR, EXIT_PARTIAL
from syncer.engine.sync import sync
from tests.emulators.databricks import RATES

AZUREML_URI = (
    "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/0000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws"
)


@pytest.fixture(autouse=True)
def _logs_to_live_stderr():
    """cli.main binds structlog to the captured stderr of its test; unbind it afterwards."""
    yield
    structlog.reset_defaults()


def _searches(limit: float | None, n: int = 12) -> None:
    ep = Endpoint(
        "databricks",
        "databricks",
        caps=DATABRICKS.with_overrides(
            rate_limits=RateLimits(experiments=limit, search=7.0, log_batch=47.0, other=127.0)
        ),
        role="source",
    )
    with ThreadPoolExecutor(max_workers=4) as pool:  # the workers share the endpoint's limiter
        list(
            pool.map(
                lambda _: call(
                    ep, "search_experiments", lambda: ep.client.search_experiments(max_results=1)
                ),
                range(n),
            )
        )


def test_client_rate_limit_avoids_429_and_429_retry_after_is_honoured(databricks_env):
    rules, counts = databricks_env.rules, databricks_env.gateway.counts
    _searches(
        limit=3.0, n=1
    )  # warm up: the SDK client's first set-up would bunch the first requests
    rules.set_rates({**RATES, "experiments": 4.0})
    try:
        before = counts["429 experiments"]
        _searches(limit=3.0)  # the client keeps under the service's 4/s
        assert counts["429 experiments"] == before
        _searches(limit=0)  # no client limit: the service pushes back, the call still succeeds
        assert counts["429 experiments"] > before
    finally:
        rules.set_rates(RATES)


def _write_config(tmp_path, dest_url: str, experiments: list[str], **extra) -> str:
    cfg = {
        "source": {"tracking_uri": "databricks", "registry_uri": "databricks"},
        "destination": {"tracking_uri": dest_url, "profile": "azureml"},
        "experiments": experiments,
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        **extra,
    }
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_persistent_429_reaches_the_user_as_one_line(
    databricks_env, azureml_dest, tmp_path, monkeypatch, capsys
):
    # the SDK's own retries of a 429 (Retry-After 1 s) end after 1 s: each call gives up after one
    # wait, as one would after any number of them
    monkeypatch.setenv("MLFLOW_DATABRICKS_ENDPOINT_HTTP_RETRY_TIMEOUT", "1")
    # and the probe that follows (syncer.backends.probe: as long as a request may take) after 2 s,
    # not 10
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    # MLflow caches the SDK client with its retry timeout
    rest_utils.get_workspace_client.cache_clear()
    monkeypatch.setattr(RetryPolicy, "attempts", 2)
    databricks_env.rules.always_429.add("experiments")
    try:
        rc = cli.main(
            [
                "migrate",
                "--no-progress",
                "--config",
                _write_config(tmp_path, azureml_dest.url, ["x"]),
            ]
        )
    finally:
        databricks_env.rules.always_429.clear()
        rest_utils.get_workspace_client.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == EXIT_ERROR
    assert len(err) == 1 and "cannot read the source" in err[0] and "Too many requests" in err[0], (
        err
    )
    assert databricks_env.token not in err[0]


def test_name_collisions_are_errors_and_nothing_is_written_for_them(
    databricks_env, azureml_dest, tmp_path, unique_name, capsys
):
    src = MlflowClient(databricks_env.server.url)
    for user, exp in (
        ("alice@corp.com", "exp"),
        ("bob@corp.com", "exp"),
        ("alice@corp.com", "solo"),
    ):
        eid = src.create_experiment(f"/Users/{user}/{unique_name}/{exp}")
        src.set_terminated(src.create_run(eid, run_name=f"{user}-{exp}").info.run_id)
    config = _write_config(tmp_path, azureml_dest.url, [f"/Users/*/{unique_name}/*"])
    assert cli.main(["diff", "--config", config]) == EXIT_ERROR
    out = capsys.readouterr().out
    assert f"several source experiments map to '{unique_name}/exp'" in out
    assert cli.main(["migrate", "--no-progress", "--config", config]) == EXIT_PARTIAL
    dst = MlflowClient(azureml_dest.url)
    assert dst.get_experiment_by_name(f"{unique_name}/exp") is None
    solo = dst.get_experiment_by_name(f"{unique_name}/solo")
    assert len(dst.search_runs([solo.experiment_id])) == 1


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["--source", "databricks", "--dest", "sqlite:///{tmp}/d.db"],
            {},
            "choose the model registry explicitly",
        ),
        (
            [
                "--source",
                "databricks",
                "--source-registry",
                "databricks-uc",
                "--dest",
                "sqlite:///{tmp}/d.db",
            ],
            {"DATABRICKS_HOST": None, "DATABRICKS_TOKEN": None},
            "no Databricks credentials",
        ),
        (
            ["--source", "sqlite:///{tmp}/s.db", "--dest", AZUREML_URI],
            {"AZURE_TENANT_ID": None, "AZURE_CLIENT_ID": None, "AZURE_CLIENT_SECRET": None},
            "no usable Azure credential: set AZURE_TENANT_ID",
        ),
    ],
)
def test_start_up_checks_fail_with_one_clear_line(
    argv, env, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.databrickscfg, no Azure CLI cache
    for name, value in env.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(
            name, value
        )
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    MlflowClient(f"sqlite:///{tmp_path}/s.db").search_experiments()  # a source that exists
    capsys.readouterr()
    assert (
        cli.main(["migrate", "--no-progress", "--state", f"sqlite:///{tmp_path}/st.db", *argv]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "d.db").exists()


def test_a_write_once_file_of_another_size_fails_its_run_alone(
    source_server, azureml_dest, azurite, unique_name, tmp_path
):
    """The branch of write-once settling where the file there is not the source's: the run fails
    with one line naming both sizes (a person decides), the other run is complete, nothing is
    overwritten."""
    src, dst = MlflowClient(source_server.url), MlflowClient(azureml_dest.url)
    exp = src.create_experiment(unique_name)
    for name in ("kept", "other"):
        run = src.create_run(exp, run_name=name).info.run_id
        (tmp_path / "a.txt").write_text("0123456789")
        src.log_artifact(run, str(tmp_path / "a.txt"))
        src.set_terminated(run)
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=azureml_dest.url, profile="azureml"),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[unique_name],
    )
    assert not sync(settings).failed
    copy = next(
        r
        for r in dst.search_runs([dst.get_experiment_by_name(unique_name).experiment_id])
        if r.info.run_name == "other"
    )
    dst.delete_tag(
        copy.info.run_id, "mlflow_syncer.fingerprint"
    )  # an interrupted copy, to be resumed
    root = BlobLocation.parse(copy.info.artifact_uri)
    behind = azurite.service().get_blob_client(
        root.container, root.child("a.txt").path
    )  # behind the front
    behind.upload_blob(b"seven b", overwrite=True)
    with sqlite3.connect(tmp_path / "s.db") as db:  # uploaded, never recorded
        db.execute(
            "DELETE FROM artifacts WHERE run_source_id = ?",
            (copy.data.tags["mlflow_syncer.source_run_id"],),
        )

    again = sync(settings)
    assert [(o.action.label, o.error) for o in again.failed] == [
        (
            f"{unique_name}/other",
            "artifact a.txt: the destination already holds a file of 7 bytes there (the "
            "source's: 10) and refuses to overwrite it",
        )
    ]
    assert behind.download_blob().readall() == b"seven b"
    assert [
        a.op for a in sync(settings, dry_run=True).plan.actions if a.label == f"{unique_name}/kept"
    ] == [Op.SAME]
