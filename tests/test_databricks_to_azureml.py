"""Databricks-like source -> Azure-ML-like destination (both emulated: see tests/emulators/)."""

from __future__ import annotations

from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.engine import sync
from syncer.plan import Op


def _settings(dest_url: str, state: str, experiments: list[str], **kw) -> Settings:  # noqa: ANN003
    return Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_url, profile="azureml"),
        state=state, experiments=experiments, **kw)


def test_smoke(databricks_env, azureml_dest, workload_factory, unique_name, tmp_path):
    src = MlflowClient(databricks_env.server.url)
    w = workload_factory(src, f"/Users/alice@corp.com/{unique_name}")
    result = sync(_settings(azureml_dest.url, f"sqlite:///{tmp_path / 'state.db'}",
                            [f"/Users/alice@corp.com/{unique_name}/*"]))
    for o in result.outcomes:
        print(o.action.kind, o.action.label, o.ok, o.error)
    for a in result.plan.actions:
        print(a.sigil, a.label, a.details)
    print(databricks_env.gateway.counts, azureml_dest.gateway.counts)
    assert not result.failed
    assert len([a for a in result.plan.actions if a.op is Op.CREATE and a.kind == "run"]) == len(w.runs)
