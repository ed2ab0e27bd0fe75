"""Migration between two real `mlflow server` processes, compared deeply."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from tests.compare import assert_same


def _settings(src: str, dst: str, state: str, experiments: list[str], **kw) -> Settings:
    return Settings(source=EndpointConfig(tracking_uri=src), destination=EndpointConfig(tracking_uri=dst),
                    state=state, experiments=experiments, **kw)


def test_migrate_copies_everything_and_rerun_creates_nothing(source_server, dest_server, unique_name,
                                                             workload_factory, tmp_path):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = workload_factory(src, unique_name)
    settings = _settings(source_server.url, dest_server.url, f"sqlite:///{tmp_path / 'state.db'}",
                         [f"{unique_name}/*"])
    first = sync(settings)
    assert not [o for o in first.outcomes if not o.ok]
    created = [o for o in first.outcomes if o.action.kind == "run" and o.action.op is Op.CREATE]
    assert len(created) == len(w.runs)
    assert_same(src, dst, w.experiments)

    second = sync(settings)
    assert second.outcomes == []
    assert all(a.op is Op.SAME for a in second.plan.actions)
    dst_runs = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in w.experiments],
                               run_view_type=ViewType.ALL)
    assert len(dst_runs) == len(w.runs)
