"""Databricks' permission rules through the emulated workspace (tests/emulators/databricks.py,
unity_catalog.py): a 403 on one object fails that object only (reported, retried next pass), a 403
at first contact stops the run (exit 2), and a non-admin principal, whose listings leave out what it
may not see, is warned about in the plan, the report and `status`.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.linear_model import LinearRegression

from syncer.backends.calls import call
from syncer.backends.classify import classify
from syncer.backends.endpoint import Endpoint
from syncer.cli import app as cli
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.errors import FatalError, Kind
from syncer.engine.sync import PassOptions, SyncResult, endpoints, open_state, run_pass, sync
from syncer.kinds.inventory.visibility import NOT_ADMIN
from tests.compare import assert_same
from tests.fixtures.cli import write_config
from tests.fixtures.models import X, _exported, model_files
from tests.test_unity_catalog import assert_same_model, build_source


def test_a_model_without_execute_fails_alone_and_completes_once_granted(
    uc_env, dest_server, unique_name, tmp_path
):
    src = build_source(uc_env, unique_name)
    s = Settings(
        source=EndpointConfig(
            tracking_uri="databricks", registry_uri=["databricks", "databricks-uc"]
        ),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[src.ws_experiment],
        models=[f"main.{src.schema}.*", src.ws_model],
    )
    uc_env.rules.no_execute.add(
        src.uc_model
    )  # listed (BROWSE, or EXECUTE revoked since), files refused
    uc_env.rules.empty_pages, before = True, Counter(uc_env.gateway.counts)
    try:
        first = sync(s)
    finally:
        uc_env.rules.no_execute.discard(src.uc_model)
        uc_env.rules.empty_pages = False
    assert (uc_env.gateway.counts - before)[
        "uc empty page"
    ] >= 2  # model and version searches, followed
    failed = {o.action.label: o.error for o in first.failed}
    # v1 is an MLflow 3 logged model read from the workspace; v2's files live in UC storage only,
    # and the model's alias `champion` names v2
    assert failed.keys() == {f"{src.uc_model}/v2", src.uc_model}, failed
    assert failed[src.uc_model] == "alias champion: version 2 was not copied"
    assert failed[f"{src.uc_model}/v2"].startswith("PERMISSION_DENIED: User does not have EXECUTE")
    dst, src_client = MlflowClient(dest_server.url), MlflowClient(uc_env.server.url)
    assert_same_model(
        src_client, dst, src.ws_model, uc_env.server.url, dest_server.url
    )  # the rest went on
    assert [v.version for v in dst.search_model_versions(f"name='{src.uc_model}'")] == ["1"]

    second = sync(s)  # retried on the next pass, now granted
    assert second.failed == []
    assert_same_model(src_client, dst, src.uc_model, uc_env.server.url, dest_server.url)


def test_a_refusal_is_the_objects_unless_it_answers_the_first_call(databricks_env, unique_name):
    hidden = MlflowClient(databricks_env.server.url).create_experiment(f"{unique_name}/hidden")
    fresh, answered = (Endpoint("databricks", "databricks", role="source") for _ in range(2))
    databricks_env.rules.admin = False
    databricks_env.rules.hidden_experiments.add(hidden)
    try:
        listed = {
            e.experiment_id
            for e in call(answered, "search_experiments", answered.client.search_experiments)
        }
        with pytest.raises(MlflowException) as denied:
            call(answered, "get_experiment", lambda: answered.client.get_experiment(hidden))
        with pytest.raises(FatalError) as first:
            call(fresh, "get_experiment", lambda: fresh.client.get_experiment(hidden))
    finally:
        databricks_env.rules.admin = True
        databricks_env.rules.hidden_experiments.discard(hidden)
    assert listed and hidden not in listed  # silently left out of the listing
    exc = (
        denied.value
    )  # Databricks' own shape: {"error_code": "PERMISSION_DENIED", "message": ...}, 403
    assert exc.error_code == "PERMISSION_DENIED" and classify(exc) is Kind.TERMINAL
    assert classify(exc, first_contact=True) is Kind.FATAL
    assert str(first.value).startswith(
        f"the source ({fresh.identity}) refused the first call (get_experiment): "
        f"PERMISSION_DENIED: User "
        f"syncer@example.com does not have permission to 'View' experiment with id {hidden}"
    )


def test_a_refused_run_scan_fails_that_experiment_only(
    databricks_env, dest_server, unique_name, tmp_path, reset_logging
):
    src = MlflowClient(databricks_env.server.url)
    ok, refused = (src.create_experiment(f"{unique_name}/{n}") for n in ("ok", "refused"))
    for exp in (ok, refused):
        src.set_terminated(src.create_run(exp, run_name="r").info.run_id)
    s = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    databricks_env.rules.runs_refused.add(
        refused
    )  # listed, its runs/search answers 403 PERMISSION_DENIED
    try:
        first = sync(s)
        unit = _range_unit(
            s, refused
        )  # the same refusal inside a start-time range unit (--engine ray)
    finally:
        databricks_env.rules.runs_refused.discard(refused)
    [unit_bad] = [a for a in unit.plan.actions if a.op is Op.ERROR]
    assert (unit_bad.kind, unit_bad.source_id) == ("experiment", refused) and unit.failed == []
    [bad] = [a for a in first.plan.actions if a.op is Op.ERROR]
    assert (bad.kind, bad.label) == ("experiment", f"{unique_name}/refused")
    assert bad.details["reason"].startswith(
        "its runs cannot be read: PERMISSION_DENIED: User syncer@example.com does not have "
        "permission to 'View' "
        f"experiment with id {refused}"
    )
    assert [a.label for a in first.plan.actions if a.kind == "run"] == [f"{unique_name}/ok/r"]
    assert first.failed == []
    second = sync(s)  # read again on the next pass, now allowed
    assert not [a for a in second.plan.actions if a.op is Op.ERROR]
    assert Counter((a.kind, a.op) for a in second.plan.actions if not a.unlisted) == {
        ("experiment", Op.SAME): 2,
        ("run", Op.SAME): 1,
        ("run", Op.CREATE): 1,
    }
    assert_same(src, MlflowClient(dest_server.url), [f"{unique_name}/ok", f"{unique_name}/refused"])

    # The same in a mirror cycle reading changes only (its grouped change searches)
    config = write_config(
        tmp_path / "m.yaml",
        **s.model_dump(
            include={"source", "destination", "state", "experiments"}, exclude_none=True
        ),
    )
    mirror = ["mirror", "--once", "--no-progress", "--config", str(config)]
    assert cli.main(mirror) == 0  # a clean full cycle: the next reads changes only
    for exp in (ok, refused):
        src.set_terminated(src.create_run(exp, run_name="new").info.run_id)
    databricks_env.rules.runs_refused.add(refused)
    try:
        assert cli.main(mirror) == 1  # that experiment failed, the other's new run copied
    finally:
        databricks_env.rules.runs_refused.discard(refused)
    assert_same(src, MlflowClient(dest_server.url), [f"{unique_name}/ok"])
    assert cli.main(mirror) == 0
    assert_same(src, MlflowClient(dest_server.url), [f"{unique_name}/ok", f"{unique_name}/refused"])


def _range_unit(settings: Settings, experiment_id: str) -> SyncResult:
    """The pass a Ray range unit runs (syncer.engine.ray_units._unit_task): one experiment, one
    range."""
    src, dst = endpoints(settings)
    state = open_state(settings, src, dst, read_only=False)
    try:
        return run_pass(
            settings,
            src,
            dst,
            state,
            PassOptions(experiment_ids=frozenset({experiment_id}), run_window=(1, None)),
        )
    finally:
        state.close()


def test_a_non_admin_is_warned_in_plan_report_and_status(
    databricks_env, dest_server, unique_name, tmp_path, capsys
):
    src = MlflowClient(databricks_env.server.url)
    seen, hidden = (src.create_experiment(f"{unique_name}/{n}") for n in ("seen", "hidden"))
    for exp in (seen, hidden):
        src.set_terminated(src.create_run(exp).info.run_id)
    state = f"sqlite:///{tmp_path / 's.db'}"
    argv = [
        "--no-progress",
        "--state",
        state,
        "--source",
        "databricks",
        "--source-registry",
        "databricks",
        "--dest",
        dest_server.url,
        "--experiments",
        f"{unique_name}/*",
    ]
    databricks_env.rules.admin = False
    databricks_env.rules.hidden_experiments.add(hidden)
    try:
        assert cli.main(["migrate", "--dry-run", *argv]) == 1
        plan = capsys.readouterr().out
        assert cli.main(["migrate", *argv]) == 0
        report = capsys.readouterr().out
    finally:
        databricks_env.rules.admin = True
        databricks_env.rules.hidden_experiments.discard(hidden)
    assert NOT_ADMIN in plan and NOT_ADMIN in report, (plan, report)
    dst = MlflowClient(dest_server.url)
    assert [
        e.name for e in dst.search_experiments(filter_string=f"name LIKE '{unique_name}/%'")
    ] == [f"{unique_name}/seen"]
    assert cli.main(["status", "--state", state, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == [NOT_ADMIN]
    # an admin sees everything: no warning, and the status forgets it
    s = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=state,
        experiments=[f"{unique_name}/*"],
    )
    again = sync(s)
    assert not [a for a in again.plan.actions if a.op is Op.UNCOPIED and a.kind == "experiment"]
    assert cli.main(["status", "--state", state, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_paged_read_credentials_of_every_cloud_type(
    databricks_env, dest_server, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    run = src.create_run(src.create_experiment(f"{unique_name}/files")).info.run_id
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"file {i} " * (i + 1))
        src.log_artifact(run, str(tmp_path / f"f{i}.txt"), "nested" if i % 2 else None)
    src.set_terminated(run)
    s = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    dbfs, before = databricks_env.dbfs, Counter(databricks_env.gateway.counts)
    dbfs.read_page, dbfs.url_types = 2, ("AWS_PRESIGNED_URL", "GCP_SIGNED_URL", "AZURE_SAS_URI")
    try:
        result = sync(s)
    finally:
        dbfs.read_page, dbfs.url_types = 2000, ("AZURE_SAS_URI",)
    seen = databricks_env.gateway.counts - before
    assert (
        result.failed == [] and sum(o.ok and o.action.kind == "run" for o in result.outcomes) == 1
    )
    # one request for the 5 files, answered in 3 pages of at most 2, each type handed out and read
    assert seen["POST /api/2.0/mlflow/artifacts/credentials-for-read"] == 3
    assert {k: v for k, v in seen.items() if k.startswith("read credential")} == {
        "read credential AWS_PRESIGNED_URL": 2,
        "read credential GCP_SIGNED_URL": 2,
        "read credential AZURE_SAS_URI": 1,
    }
    assert_same(src, MlflowClient(dest_server.url), [f"{unique_name}/files"])


def test_workspace_registry_files_through_signed_download_uris(
    databricks_env, dest_server, unique_name, tmp_path
):
    src = MlflowClient(databricks_env.server.url)
    run = src.create_run(
        src.create_experiment(f"{unique_name}/training")
    ).info.run_id  # not selected
    _exported(src, run, LinearRegression().fit(X, X @ [0.5, 1.0]), "model")
    src.set_terminated(run)
    name = f"{unique_name}-ws"
    src.create_registered_model(name)
    src.create_model_version(name, f"runs:/{run}/model", run_id=run)
    s = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/none"],
        models=[name],
    )
    before = Counter(databricks_env.gateway.counts)
    result = sync(s)
    seen = databricks_env.gateway.counts - before
    assert result.failed == []
    assert seen["registry get-download-uri"] == 1 and seen["registry list-artifacts"] >= 1
    files = model_files(
        databricks_env.server.url, name, "1"
    )  # with MLflow's local `registered_model_meta`
    assert seen["registry get-signed-download-uri"] == len(files) - 1 == 5
    assert not [
        k for k in seen if "/api/2.0/dbfs/" in k or "/api/2.0/fs/" in k
    ]  # never the DBFS API
    assert model_files(dest_server.url, name, "1") == files
