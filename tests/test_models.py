"""Registered models between real servers: versions, aliases, stages, tags and files that really
load."""

from __future__ import annotations

import subprocess

import numpy as np
from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op, Plan
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.core.model_snapshot import TAG_SOURCE_MODEL, TAG_SOURCE_STAGE, TAG_SOURCE_VERSION
from syncer.core.snapshot import TAG_FINGERPRINT
from syncer.engine.sync import PassOptions, open_state, run_pass, sync
from tests.compare import assert_same
from tests.fixtures.cli import kill_at, migrate_forked
from tests.fixtures.models import make_models, model_files, predictions

MODEL_KINDS = ("model", "model_version")


def _settings(
    src: str, dst: str, state: str, experiments: list[str], models: list[str]
) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri=src),
        destination=EndpointConfig(tracking_uri=dst),
        state=state,
        experiments=experiments,
        models=models,
    )


def _versions(client: MlflowClient, name: str) -> dict[str, object]:
    return {v.version: v for v in client.search_model_versions(f"name='{name}'")}


def _migrate(
    src: str, dst: str, state: str, experiment: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    return migrate_forked(src, dst, state, experiment, env=env)


def test_kill_during_version_copy_resumes_without_new_versions(
    model_source, dest_server, unique_name, tmp_path
):
    m = make_models(model_source.url, unique_name)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    killed = _migrate(
        model_source.url,
        dest_server.url,
        state,
        m.experiment,
        env=kill_at("finalize_logged_model:1"),
    )  # v1's files copied
    assert killed.returncode == -9, killed.stderr
    dst = MlflowClient(dest_server.url)
    dest_exp = dst.get_experiment_by_name(m.experiment).experiment_id
    assert [lm.status for lm in dst.search_logged_models([dest_exp])] == ["PENDING"]
    assert _versions(dst, m.churn) == {}
    killed = _migrate(
        model_source.url, dest_server.url, state, m.experiment, env=kill_at("get_model_version:1")
    )  # v1 created, not tagged
    assert killed.returncode == -9, killed.stderr
    assert [lm.status for lm in dst.search_logged_models([dest_exp])] == ["READY"]
    half = _versions(dst, m.churn)
    assert list(half) == ["1"]
    assert half["1"].tags[TAG_SOURCE_VERSION] == "1" and TAG_FINGERPRINT not in half["1"].tags
    assert dst.get_registered_model(m.churn).aliases == {}

    resumed = _migrate(model_source.url, dest_server.url, state, m.experiment)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    done = _versions(dst, m.churn)
    assert sorted(done) == ["1", "2"]
    assert all(
        v.tags[TAG_SOURCE_VERSION] == n and TAG_FINGERPRINT in v.tags for n, v in done.items()
    )
    assert done["2"].current_stage == "Production"
    assert dst.get_registered_model(m.churn).aliases == {"champion": "2", "legacy": "1"}
    assert_same(
        MlflowClient(model_source.url), dst, [m.experiment]
    )  # runs, the model, its logged model
    again = _migrate(model_source.url, dest_server.url, state, m.experiment)
    assert again.returncode == 0 and sorted(_versions(dst, m.churn)) == ["1", "2"]
    assert len(dst.search_logged_models([dest_exp])) == 1
    for number in (
        "1",
        "2",
    ):  # byte-identical files, MLmodel included (the peer tool rewrites MLmodel)
        files = model_files(model_source.url, m.churn, number)
        assert "MLmodel" in files and files == model_files(dest_server.url, m.churn, number)


def _engine_pass(settings: Settings, src: Endpoint, dst: Endpoint) -> tuple[Plan, list]:
    """One scan -> plan -> apply pass of the engine with hand-built endpoints (capabilities of our
    choice)."""
    state = open_state(settings, src, dst, read_only=False)
    try:
        result = run_pass(settings, src, dst, state, PassOptions())
        return result.plan, result.outcomes
    finally:
        state.close()


def test_destination_without_logged_models_or_stages(
    model_source, dest_server, unique_name, tmp_path
):
    """Like Azure ML: a logged-model version goes through a holder run; the stage becomes a tag."""
    m = make_models(model_source.url, unique_name)
    legacy = predictions(model_source.url, f"models:/{m.churn}@legacy")
    settings = _settings(
        model_source.url, dest_server.url, f"sqlite:///{tmp_path / 'state.db'}", [m.experiment], []
    )
    src = Endpoint(model_source.url, role="source")
    dst = Endpoint(
        dest_server.url,
        caps=PLAIN_MLFLOW.with_overrides(stages=False).without("logged_model"),
        role="destination",
    )
    plan, outcomes = _engine_pass(settings, src, dst)
    assert [o.error for o in outcomes if not o.ok] == []
    assert [a.details.get("files") for a in plan.actions if a.kind == "model_version"] == [
        "holder",
        "run",
    ]
    dest = MlflowClient(dest_server.url)
    versions = _versions(dest, m.churn)
    assert [versions[n].current_stage for n in ("1", "2")] == ["None", "None"]
    assert (
        versions["2"].tags[TAG_SOURCE_STAGE] == "Production"
        and TAG_SOURCE_STAGE not in versions["1"].tags
    )
    holder = dest.get_experiment_by_name("mlflow-syncer-model-files")
    assert versions["1"].source.startswith(
        dest.get_run(
            dest.search_runs(
                [holder.experiment_id], f"tags.`mlflow_syncer.holds_model_version` = '{m.churn}/1'"
            )[0].info.run_id
        ).info.artifact_uri
    )
    assert np.array_equal(predictions(dest_server.url, f"models:/{m.churn}@legacy"), legacy)
    # the destination holds no logged models: v1's is listed as not copied, its files are in a
    # holder run
    assert_same(MlflowClient(model_source.url), dest, [m.experiment], kinds=("models",))
    again, outcomes = _engine_pass(settings, src, dst)
    # v1's logged model: its files live in the holder run, the logged model itself is listed as not
    # copied
    assert outcomes == [] and {a.op for a in again.actions if a.kind != "logged_model"} == {Op.SAME}
    assert [(a.op, a.details["count"]) for a in again.actions if a.kind == "logged_model"] == [
        (Op.UNCOPIED, 1)
    ]


def test_models_load_from_destination_with_source_stopped(
    model_source, dest_server, unique_name, tmp_path
):
    m = make_models(model_source.url, unique_name)
    src = MlflowClient(model_source.url)
    src.set_registered_model_alias(m.churn, "temporary", "1")
    expected = {
        alias: predictions(model_source.url, f"models:/{m.churn}@{alias}")
        for alias in ("champion", "legacy")
    }
    expected["only"] = predictions(model_source.url, f"models:/{m.loose}@only")
    settings = _settings(
        model_source.url,
        dest_server.url,
        f"sqlite:///{tmp_path / 'state.db'}",
        [m.experiment],
        [f"{unique_name}-explicit-*"],
    )
    first = sync(settings)
    assert [o.error for o in first.outcomes if not o.ok] == []
    created = sorted(o.action.label for o in first.outcomes if o.action.kind == "model_version")
    assert created == [f"{m.churn}/v1", f"{m.churn}/v2", f"{m.loose}/v1"]
    files = {a.label: a.details["files"] for a in first.plan.actions if a.kind == "model_version"}
    assert files == {
        f"{m.churn}/v1": "logged_model",
        f"{m.churn}/v2": "run",
        f"{m.loose}/v1": "holder",
    }

    second = sync(settings)
    assert second.outcomes == []
    assert {a.op for a in second.plan.actions if a.kind in MODEL_KINDS} == {Op.SAME}

    v2 = _versions(src, m.churn)["2"]
    src.create_model_version(m.churn, v2.source, run_id=v2.run_id, description="third: same files")
    src.set_registered_model_alias(m.churn, "champion", "3")
    src.update_registered_model(m.churn, description="churn model, retrained")
    src.update_model_version(m.churn, "1", description="first: linear (kept for audits)")
    src.set_model_version_tag(m.churn, "1", "audit", "2026")
    src.delete_registered_model_alias(m.churn, "temporary")
    third = sync(settings)
    assert [o.error for o in third.outcomes if not o.ok] == []
    done = sorted((o.action.kind, o.action.op.value, o.action.label) for o in third.outcomes)
    assert done == [
        ("model", "update", m.churn),
        ("model_version", "create", f"{m.churn}/v3"),
        ("model_version", "update", f"{m.churn}/v1"),
    ]

    dst = MlflowClient(dest_server.url)
    assert_same(src, dst, [m.experiment], models=[m.loose])
    for name in (m.churn, m.loose):
        want, have = src.get_registered_model(name), dst.get_registered_model(name)
        assert (have.description, have.aliases) == (want.description, want.aliases)
        assert {
            k: v for k, v in have.tags.items() if not k.startswith("mlflow_syncer.")
        } == want.tags
        src_versions, dst_versions = _versions(src, name), _versions(dst, name)
        assert sorted(dst_versions) == sorted(src_versions)
        for number, v in src_versions.items():
            d = dst_versions[number]
            assert (d.description, d.current_stage, d.status) == (
                v.description,
                v.current_stage,
                "READY",
            )
            assert {k: x for k, x in d.tags.items() if not k.startswith("mlflow_syncer.")} == v.tags
            assert d.tags[TAG_SOURCE_MODEL] == name
            assert model_source.url not in d.source and d.source != v.source
    churn_v1 = _versions(dst, m.churn)["1"]
    logged = dst.search_logged_models([dst.get_run(churn_v1.run_id).info.experiment_id])
    assert [lm.artifact_location for lm in logged] == [churn_v1.source]
    assert logged[0].source_run_id == churn_v1.run_id != _versions(src, m.churn)["1"].run_id

    model_source.stop()
    for alias, want in expected.items():
        name = m.loose if alias == "only" else m.churn
        got = predictions(dest_server.url, f"models:/{name}@{alias}")
        assert np.array_equal(got, want), alias
