"""Databricks-like source -> Azure-ML-like destination, both emulated (tests/emulators/): real
MLflow servers with artifacts in Azurite, behind gateways that behave like the services at the HTTP
level.

One scenario, migrated once: the standard workload, a run that does not fit Azure ML (the
documented policies) and a registered model of the workspace registry (versions from an MLflow 3
logged model and from a run's folder: all metadata, byte-identical files that load through the
destination registry). The destination is named as users of Azure ML name it, an `azureml://` URI
reached through the real azureml-mlflow plugin (the `[azureml]` extra: managed-identity token,
HTTPS, the workspace's scope path; tests/fixtures/azureml_plugin.py) in front of the Azure-ML-like
destination. The tests read that migration in turn: the plugin's path, its policies, its models, a
second pass that copies nothing, a resume after an interrupted copy. That the standard workload
arrives exactly (deep equality), a rerun, diff, the dry run's plan applied, a kill amid a run's
files completed by a mirror cycle, and expired signed URLs renewed, between these two emulated
services (the destination by `http://` and `profile: azureml`), is tests/test_conformance.py's
(`databricks-azureml` profile).
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import pytest
from azure.core.exceptions import ResourceExistsError
from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag

from syncer.backends import azure_blob as blob
from syncer.backends.azure_blob import BlobLocation
from syncer.config import Settings
from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML
from syncer.core.model_snapshot import TAG_SOURCE_MODEL, TAG_SOURCE_STAGE
from syncer.core.snapshot import TAG_SOURCE_RUN_ID
from syncer.engine.deep_compare import Inspection
from syncer.engine.sync import SyncResult, sync
from syncer.kinds.models.files import TAG_HOLDS_VERSION
from syncer.plan.uncopied import is_unlisted
from syncer.report.json_format import write as write_json
from syncer.report.model import Report
from syncer.report.summary import summarize
from syncer.report.text import lines
from tests.fixtures.azure import point_sdk_at
from tests.fixtures.azureml_plugin import SCOPE, PluginWorkspace, managed_identity
from tests.fixtures.dbx_azureml import (  # other tests import these from here too
    DBFS_READ,
    USER,
    add_policy_run,
    assert_fitted_copy,
    files_per_run,
    register,
    settings_for,
    unthrottled,
    user_tags,
)
from tests.fixtures.models import model_files, predictions
from tests.fixtures.workload import T0, Workload, make_workload

API, MV, LOGGED = (
    "GET /api/2.0/mlflow/",
    "/api/2.0/mlflow/model-versions/",
    "/api/2.0/mlflow/logged-models",
)


@dataclass
class Scenario:
    """The migrated scenario and what its first pass did."""

    name: str  # the experiments' prefix below the user folder
    src: MlflowClient  # the source server behind the Databricks gateway, read directly
    dst: MlflowClient
    workload: Workload
    policy_run: str
    model: str
    expected: dict  # alias -> the source model's predictions
    settings: Settings
    state: str  # the state store's file
    first: SyncResult
    src_seen: Counter  # requests each gateway answered during the first pass
    dst_seen: Counter  # the plugin's gateway
    plugin: PluginWorkspace

    @property
    def dst_names(self) -> list[str]:
        return [f"{self.name}/alpha", f"{self.name}/beta"]  # the mapping strips /Users/<user>/


@pytest.fixture(scope="module")
def scenario(
    databricks_source, azureml_dest, plugin_workspace, tmp_path_factory
) -> Iterator[Scenario]:
    env, lifted = pytest.MonkeyPatch(), ExitStack()
    try:
        # Databricks' rates are tests/test_rate_limits_http.py's: lifted here
        lifted.enter_context(unthrottled(databricks_source))
        point_sdk_at(databricks_source, env)
        managed_identity(plugin_workspace, env, tmp_path_factory.mktemp("home"))
        name = f"t-{uuid.uuid4().hex[:10]}"
        src_url = databricks_source.server.url
        src = MlflowClient(src_url)
        w = make_workload(src, f"{USER}/{name}")
        policy_run = add_policy_run(src, w.experiments[0])
        model = f"{name}-churn"
        register(src, src_url, w.runs, model)
        expected = {a: predictions(src_url, f"models:/{model}@{a}") for a in ("champion", "legacy")}
        state = tmp_path_factory.mktemp("dbx-azureml") / "state.db"
        settings = settings_for(plugin_workspace.uri, f"sqlite:///{state}", [f"{USER}/{name}/*"])
        before = (
            Counter(databricks_source.gateway.counts),
            Counter(plugin_workspace.gateway.counts),
        )
        first = sync(settings)
        yield Scenario(
            name,
            src,
            MlflowClient(azureml_dest.url),
            w,
            policy_run,
            model,
            expected,
            settings,
            str(state),
            first,
            databricks_source.gateway.counts - before[0],
            plugin_workspace.gateway.counts - before[1],
            plugin_workspace,
        )
    finally:
        lifted.close()
        env.undo()


def test_the_destination_is_reached_through_the_plugin_with_a_managed_identity(
    scenario: Scenario,
):
    seen = scenario.dst_seen
    assert seen["workspace call"] > 0 and seen["reply 401"] == 0 and seen["reply 404"] == 0
    assert scenario.plugin.identity.issued  # every call carried a token the identity issued


def test_databricks_to_azureml_copies_workload_with_documented_policies(scenario: Scenario):
    s, first = scenario, scenario.first
    assert not first.failed, [o.error for o in first.failed]
    created = [a for a in first.plan.actions if a.kind == "run" and a.op is Op.CREATE]
    assert len(created) == len(s.workload.runs) + 1
    assert sorted(a.label for a in first.plan.actions if a.kind == "experiment") == s.dst_names

    notes = next(a for a in first.plan.actions if a.source_id == s.policy_run).details["policy"]
    assert "tag mlflow.user dropped: not settable on azureml" in notes
    assert any(n.startswith("tag long_value truncated to 1000 characters") for n in notes)
    assert any(n.startswith("tag kkkk") and "key longer than 100" in n for n in notes)
    assert any(n.startswith("param pppp") for n in notes)
    # 60 tag_xx, long_value, mlflow.source.name and mlflow.runName fit the other rules; 43 may stay
    assert any(n.startswith("20 tags not logged") for n in notes)
    assert sum(n.startswith("metric m5") for n in notes) == 5
    report = "\n".join(lines(Report(first, Inspection())))
    assert "policy: param pppp" in report and "(+" in report  # rendered, with the count of the rest
    assert summarize(first).policy_decisions == len(notes)
    report_obj = Report(first, Inspection())
    buffer = io.StringIO()
    write_json(report_obj, report_obj.summary(), buffer)
    reported = next(
        o for o in json.loads(buffer.getvalue())["objects"] if o["source_id"] == s.policy_run
    )
    assert reported["details"]["policy"] == notes  # the JSON report carries every decision

    assert_fitted_copy(s.src, s.dst, s.workload.experiments, s.dst_names)


def test_dbfs_files_are_copied_by_the_storage_service(scenario: Scenario, azurite):
    """Every source file of every run is copied by Azure Storage from the SAS URL the workspace
    handed out (never through here), one batch of signed URLs per run with files."""
    s = scenario
    files = files_per_run(s.src, s.workload.experiments)
    assert s.src_seen[DBFS_READ] == sum(1 for n in files.values() if n)
    service = azurite.service()
    copied = 0
    for name in s.dst_names:
        for run in s.dst.search_runs([s.dst.get_experiment_by_name(name).experiment_id]):
            loc = BlobLocation.parse(run.info.artifact_uri)
            for b in service.get_container_client(loc.container).list_blobs(
                name_starts_with=loc.path + "/"
            ):
                if b.name.startswith(f"{loc.path}/mlflow_syncer/"):
                    continue  # the policies' own files, written by mlflow-syncer
                props = service.get_blob_client(loc.container, b.name).get_blob_properties()
                assert props.copy.status == "success" and "/databricks/" in props.copy.source, (
                    b.name
                )
                copied += 1
    assert copied == sum(files.values()) > 0


def test_databricks_to_azureml_copies_workload_and_models(
    scenario: Scenario, databricks_source, azureml_dest
):
    s, first, name = scenario, scenario.first, scenario.model
    # the source registry is read through the workspace (`databricks` registry URI), v1 as a logged
    # model
    assert s.src_seen[f"{API}registered-models/search"]
    assert s.src_seen[f"{API}model-versions/search"]
    assert any(k.startswith(f"GET {LOGGED}") for k in s.src_seen)
    # files read through signed URLs: the logged model's dbfs:/.../logged_models/<id> and v2's run
    # folder
    assert any(
        k.startswith(f"POST {LOGGED}/") and k.endswith("/credentials-for-download")
        for k in s.src_seen
    )
    assert s.src_seen["POST /api/2.0/mlflow/artifacts/credentials-for-read"]
    # the registry too went through the plugin (its registry store for the same azureml:// URI)
    assert s.dst_seen[f"POST /mlflow/v2.0{SCOPE}{MV}create"] == 2
    assert not any(LOGGED in k for k in s.dst_seen)
    assert [o.error for o in first.outcomes if not o.ok] == []
    done = sorted(
        (o.action.kind, o.action.op.value, o.action.label)
        for o in first.outcomes
        if o.action.kind in ("model", "model_version")
    )
    assert done == [
        ("model", "create", name),
        ("model_version", "create", f"{name}/v1"),
        ("model_version", "create", f"{name}/v2"),
    ]
    files = {a.label: a.details["files"] for a in first.plan.actions if a.kind == "model_version"}
    assert files == {f"{name}/v1": "holder", f"{name}/v2": "run"}  # no logged models in Azure ML

    src, dst = s.src, s.dst
    want, have = src.get_registered_model(name), dst.get_registered_model(name)
    assert (have.description, have.aliases, user_tags(have.tags)) == (
        want.description,
        want.aliases,
        want.tags,
    )
    src_versions = {v.version: v for v in src.search_model_versions(f"name='{name}'")}
    dst_versions = {v.version: v for v in dst.search_model_versions(f"name='{name}'")}
    assert sorted(dst_versions) == sorted(src_versions) == ["1", "2"]
    holder = dst.get_experiment_by_name(s.settings.model_files_experiment)
    holder_run = dst.search_runs([holder.experiment_id], f"tags.{TAG_HOLDS_VERSION} = '{name}/1'")
    roots = {
        "1": holder_run[0].info.artifact_uri,
        "2": dst.get_run(dst_versions["2"].run_id).info.artifact_uri,
    }
    assert (
        AZURE_ML.stages and s.settings.model_stages == "copy"
    )  # the policy: Azure ML takes stages via MLflow
    dest_url = azureml_dest.url
    for number, v in src_versions.items():
        d = dst_versions[number]
        assert (d.description, d.current_stage, d.status) == (
            v.description,
            v.current_stage,
            "READY",
        )
        assert (
            user_tags(d.tags) == v.tags
            and d.tags[TAG_SOURCE_MODEL] == name
            and TAG_SOURCE_STAGE not in d.tags
        )
        assert d.source.startswith("wasbs://azureml@"), d.source  # in the destination's storage
        assert (
            databricks_source.url not in d.source and databricks_source.server.url not in d.source
        )
        assert d.source.startswith(roots[number] + "/")
        assert (
            dst.get_run(d.run_id).data.tags[TAG_SOURCE_RUN_ID] == v.run_id
        )  # linked to the copied run
        got = model_files(dest_url, name, number)
        assert "MLmodel" in got and got == model_files(databricks_source.server.url, name, number)
    assert dst_versions["2"].current_stage == "Production"
    for alias, want_predictions in s.expected.items():
        assert np.array_equal(predictions(dest_url, f"models:/{name}@{alias}"), want_predictions)


def test_a_second_pass_copies_nothing(scenario: Scenario):
    """Every run, experiment, model and version is `=`; Azure ML has no logged-model API: the
    version's logged model is listed and counted (its files are in a holder run)."""
    second = sync(scenario.settings)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions if a.kind != "logged_model"
    )
    assert [
        (a.op, a.details["count"]) for a in second.plan.actions if a.kind == "logged_model"
    ] == [(Op.UNCOPIED, 1)]
    versions = scenario.dst.search_model_versions(f"name='{scenario.model}'")
    assert sorted(v.version for v in versions) == ["1", "2"]


def test_resume_with_artifact_sizes_unavailable(scenario: Scenario, azurite):
    s, dst = scenario, scenario.dst
    exp = dst.get_experiment_by_name(s.dst_names[1])
    run = next(r for r in dst.search_runs([exp.experiment_id]) if r.info.run_name == "b-0")
    # An interrupted pass: no fingerprint marker, one file missing, one uploaded and never recorded.
    dst.delete_tag(run.info.run_id, "mlflow_syncer.fingerprint")
    root = BlobLocation.parse(run.info.artifact_uri)
    blob.blob_client(root.child("deep/er/data.bin")).delete_blob()
    with pytest.raises(
        ResourceExistsError, match="Resource Conflict"
    ):  # Azure ML artifacts are write-once
        blob.blob_client(root.child("notes with spaces.txt")).upload_blob(b"hal", overwrite=True)
    with sqlite3.connect(s.state) as db:
        db.execute(
            "DELETE FROM artifacts WHERE run_source_id = ? AND path = ?",
            (s.workload.runs["b-0"], "notes with spaces.txt"),
        )

    refused = azurite.front.counts["409 overwrite"]
    again = sync(s.settings)
    assert [(o.action.op, o.action.details.get("resume")) for o in again.outcomes] == [
        (Op.UPDATE, True)
    ]
    # the recorded, listed files were not copied again; the unrecorded one was refused and settled
    # by size
    assert again.outcomes[0].stats.artifact_files == 2
    assert azurite.front.counts["409 overwrite"] == refused + 1
    assert_fitted_copy(s.src, dst, s.workload.experiments, s.dst_names)


def test_emulated_azureml_enforces_its_limits(azureml_dest, unique_name):
    """The destination gateway really rejects what does not fit, and drops mlflow.source.* on
    create."""
    client = MlflowClient(azureml_dest.url)
    exp = client.create_experiment(f"{unique_name}/limits")
    run = client.create_run(exp, tags={"mlflow.source.name": "x.py", "ok": "1"})
    assert "mlflow.source.name" not in client.get_run(run.info.run_id).data.tags
    rid = run.info.run_id
    for bad in (
        {"tags": [RunTag("t", "x" * 1001)]},
        {"tags": [RunTag("k" * 101, "x")]},
        {"metrics": [Metric("m", 1.0, T0, s) for s in range(251)]},
        {"tags": [RunTag(f"t{i}", "x") for i in range(50)]},
        {"tags": [RunTag("mlflow.user", "x")]},
    ):
        try:
            client.log_batch(rid, **bad)
        except Exception as exc:
            assert "INVALID_PARAMETER_VALUE" in str(exc)
        else:
            raise AssertionError(f"accepted {list(bad)}")
