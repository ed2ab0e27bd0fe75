"""Registered models from the Databricks-like workspace registry into the Azure-ML-like destination,
along with the standard workload: versions from an MLflow 3 logged model and from a run's folder,
all metadata, files that are byte-identical and load through the destination registry.
"""

from __future__ import annotations

import warnings
from collections import Counter

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LinearRegression, Ridge

from syncer.core.actions import Op
from syncer.core.capabilities import AZURE_ML
from syncer.core.model_snapshot import TAG_SOURCE_MODEL, TAG_SOURCE_STAGE
from syncer.core.snapshot import TAG_SOURCE_RUN_ID
from syncer.engine.sync import sync
from syncer.kinds.models.files import TAG_HOLDS_VERSION
from syncer.plan.uncopied import is_unlisted
from tests.fixtures.models import REQUIREMENTS, X, _exported, model_files, predictions, tracking
from tests.test_databricks_to_azureml import USER, assert_fitted_copy, settings_for

API, MV, LOGGED = (
    "GET /api/2.0/mlflow/",
    "/api/2.0/mlflow/model-versions/",
    "/api/2.0/mlflow/logged-models",
)


def register(src: MlflowClient, url: str, runs: dict[str, str], name: str) -> None:
    """Model `name`: v1 logged (MLflow 3) in workload run a-0, v2 exported into run a-1's
    artifacts."""
    with (
        tracking(url),
        mlflow.start_run(run_id=runs["a-0"]),
    ):  # step: no metric of a-0 is re-logged for it
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(X, X @ [1.5, -2.0] + 3),
            name="model",
            pip_requirements=REQUIREMENTS,
            step=999,
        )
    _exported(src, runs["a-1"], Ridge(alpha=5.0).fit(X, np.sin(X[:, 0]) + X[:, 1]), "exported")
    src.create_registered_model(name, tags={"team": "risk"}, description="churn model")
    src.create_model_version(
        name,
        info.model_uri,
        run_id=runs["a-0"],
        tags={"quality": "ok"},
        description="first: linear",
    )
    src.create_model_version(
        name,
        f"{src.get_run(runs['a-1']).info.artifact_uri}/exported",
        run_id=runs["a-1"],
        tags={"quality": "better"},
        description="second: ridge",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src.transition_model_version_stage(name, "2", "Production")
    src.set_registered_model_alias(name, "champion", "2")
    src.set_registered_model_alias(name, "legacy", "1")


def user_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if not k.startswith("mlflow_syncer.")}


def test_databricks_to_azureml_copies_workload_and_models(
    databricks_env, azureml_dest, workload_factory, unique_name, tmp_path
):
    src_direct = MlflowClient(databricks_env.server.url)
    w = workload_factory(src_direct, f"{USER}/{unique_name}")
    name = f"{unique_name}-churn"
    register(src_direct, databricks_env.server.url, w.runs, name)
    expected = {
        a: predictions(databricks_env.server.url, f"models:/{name}@{a}")
        for a in ("champion", "legacy")
    }
    settings = settings_for(
        azureml_dest.url, f"sqlite:///{tmp_path / 'state.db'}", [f"{USER}/{unique_name}/*"]
    )

    before = (Counter(databricks_env.gateway.counts), Counter(azureml_dest.gateway.counts))
    first = sync(settings)
    src_seen = databricks_env.gateway.counts - before[0]
    dst_seen = azureml_dest.gateway.counts - before[1]
    # the source registry is read through the workspace (`databricks` registry URI), v1 as a logged
    # model
    assert src_seen[f"{API}registered-models/search"] and src_seen[f"{API}model-versions/search"]
    assert any(k.startswith(f"GET {LOGGED}") for k in src_seen)
    # files read through signed URLs: the logged model's dbfs:/.../logged_models/<id> and v2's run
    # folder
    assert any(
        k.startswith(f"POST {LOGGED}/") and k.endswith("/credentials-for-download")
        for k in src_seen
    )
    assert src_seen["POST /api/2.0/mlflow/artifacts/credentials-for-read"]
    assert dst_seen[f"POST {MV}create"] == 2 and not any(LOGGED in k for k in dst_seen)
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

    dst = MlflowClient(azureml_dest.url)
    dst_names = [f"{unique_name}/alpha", f"{unique_name}/beta"]
    assert_fitted_copy(src_direct, dst, w.experiments, dst_names)
    want, have = src_direct.get_registered_model(name), dst.get_registered_model(name)
    assert (have.description, have.aliases, user_tags(have.tags)) == (
        want.description,
        want.aliases,
        want.tags,
    )
    src_versions = {v.version: v for v in src_direct.search_model_versions(f"name='{name}'")}
    dst_versions = {v.version: v for v in dst.search_model_versions(f"name='{name}'")}
    assert sorted(dst_versions) == sorted(src_versions) == ["1", "2"]
    holder = dst.get_experiment_by_name(settings.model_files_experiment)
    holder_run = dst.search_runs([holder.experiment_id], f"tags.{TAG_HOLDS_VERSION} = '{name}/1'")
    roots = {
        "1": holder_run[0].info.artifact_uri,
        "2": dst.get_run(dst_versions["2"].run_id).info.artifact_uri,
    }
    assert (
        AZURE_ML.stages and settings.model_stages == "copy"
    )  # the policy: Azure ML takes stages via MLflow
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
        assert databricks_env.url not in d.source and databricks_env.server.url not in d.source
        assert d.source.startswith(roots[number] + "/")
        assert (
            dst.get_run(d.run_id).data.tags[TAG_SOURCE_RUN_ID] == v.run_id
        )  # linked to the copied run
        got = model_files(azureml_dest.url, name, number)
        assert "MLmodel" in got and got == model_files(databricks_env.server.url, name, number)
    assert dst_versions["2"].current_stage == "Production"
    for alias, want_predictions in expected.items():
        assert np.array_equal(
            predictions(azureml_dest.url, f"models:/{name}@{alias}"), want_predictions
        )

    second = sync(settings)
    assert second.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in second.plan.actions if a.kind != "logged_model"
    )
    # Azure ML has no logged-model API: the version's logged model is listed and counted, its files
    # are in a holder
    assert [
        (a.op, a.details["count"]) for a in second.plan.actions if a.kind == "logged_model"
    ] == [(Op.UNCOPIED, 1)]
    assert sorted(v.version for v in dst.search_model_versions(f"name='{name}'")) == ["1", "2"]
