"""`mirror --once` cycles over a Databricks-like source with both registries (workspace and a
Unity-Catalog-like one) into the Azure-ML-like destination: new versions and a moved alias in either
registry arrive with the next cycle, and a cycle without changes writes nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from mlflow import MlflowClient

from syncer.cli.app import main
from tests.fixtures.cli import write_config
from tests.test_unity_catalog import BOTH, assert_same_model, build_source, publish

pytestmark = pytest.mark.usefixtures("reset_logging")
WRITES = ("POST", "PATCH", "DELETE", "PUT")


def test_mirror_cycles_follow_both_registries(uc_env, azureml_dest, unique_name, tmp_path):
    src = build_source(uc_env, unique_name)
    config = write_config(
        tmp_path / "mirror.yaml",
        source={"tracking_uri": "databricks", "registry_uri": BOTH},
        destination={"tracking_uri": azureml_dest.url, "profile": "azureml"},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[src.ws_experiment],
        models=[f"main.{src.schema}.*"],
    )
    source, dst = MlflowClient(uc_env.server.url), MlflowClient(azureml_dest.url)
    assert main(["mirror", "--once", "--config", str(config)]) == 0

    v2 = source.get_model_version(src.uc_model, "2")
    source.create_model_version(
        src.uc_model, v2.source, run_id=v2.run_id, description="ridge, retrained"
    )
    publish(uc_env, src.uc_model, "3")
    source.set_registered_model_alias(src.uc_model, "champion", "3")
    w1 = source.get_model_version(src.ws_model, "1")
    source.create_model_version(
        src.ws_model, w1.source, run_id=w1.run_id, tags={"where": "workspace, again"}
    )
    assert main(["mirror", "--once", "--config", str(config)]) == 0
    for name in (src.uc_model, src.ws_model):
        assert_same_model(source, dst, name, uc_env.server.url, azureml_dest.url)
    assert dst.get_model_version_by_alias(src.uc_model, "champion").version == "3"

    before = Counter(azureml_dest.gateway.counts)
    assert main(["mirror", "--once", "--config", str(config)]) == 0
    seen = azureml_dest.gateway.counts - before
    assert not [k for k in seen if k.split()[0] in WRITES and "/search" not in k]  # nothing written
