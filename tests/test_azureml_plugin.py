"""An `azureml://` destination through the real azureml-mlflow plugin (the `[azureml]` extra,
installed by scripts/setup.sh with our mlflow pin): managed-identity token, HTTPS, the workspace's
scope path, the Azure ML limits, in front of a real MLflow server
(tests/fixtures/azureml_plugin.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from tests.fixtures.azureml_plugin import SCOPE
from tests.fixtures.models import model_files, predictions
from tests.test_databricks_to_azureml import add_policy_run, assert_fitted_copy, register


def test_a_migration_into_an_azureml_uri_goes_through_the_plugin_with_a_managed_identity(
    plugin_env, source_server, workload_factory, unique_name, tmp_path
):
    src = MlflowClient(source_server.url)
    w = workload_factory(src, unique_name)
    add_policy_run(src, w.experiments[0])
    name = f"{unique_name}-churn"
    register(src, source_server.url, w.runs, name)
    expected = {
        a: predictions(source_server.url, f"models:/{name}@{a}") for a in ("champion", "legacy")
    }
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=plugin_env.uri),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )
    before = Counter(plugin_env.gateway.counts)
    first = sync(settings)
    assert not first.failed, [o.error for o in first.failed]
    seen = plugin_env.gateway.counts - before
    assert seen["workspace call"] > 0 and seen["reply 401"] == 0 and seen["reply 404"] == 0
    assert plugin_env.identity.issued  # every call carried a token the managed identity issued
    dst = MlflowClient(plugin_env.server_url)
    assert_fitted_copy(src, dst, w.experiments, w.experiments)
    # the registry too went through the plugin (its registry store for the same azureml:// URI)
    assert seen["POST /mlflow/v2.0" + SCOPE + "/api/2.0/mlflow/model-versions/create"] == 2
    want, have = src.get_registered_model(name), dst.get_registered_model(name)
    assert (have.description, have.aliases) == (want.description, want.aliases)
    for number in ("1", "2"):
        assert model_files(plugin_env.server_url, name, number) == model_files(
            source_server.url, name, number
        )
    for alias, want_predictions in expected.items():
        assert np.array_equal(
            predictions(plugin_env.server_url, f"models:/{name}@{alias}"), want_predictions
        )

    second = sync(settings)
    assert second.outcomes == []
    # what Azure ML cannot hold (the versions' logged models) is listed and counted, never copied
    assert {a.kind for a in second.plan.actions if a.op is not Op.SAME and not is_unlisted(a)} <= {
        "logged_model"
    }
    assert all(a.op is Op.SAME or a.op is Op.UNCOPIED for a in second.plan.actions)
