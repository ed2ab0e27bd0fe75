"""Migration between direct stores (no server): SQLite files and a local ./mlruns folder."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from tests.compare import assert_same


def _migrate(src: str, dst: str, tmp_path, experiments, **kw):
    settings = Settings(source=EndpointConfig(tracking_uri=src),
                        destination=EndpointConfig(tracking_uri=dst, artifact_root=str(tmp_path / "dest-art")),
                        state=f"sqlite:///{tmp_path / 'state.db'}", experiments=experiments, **kw)
    return sync(settings)


@pytest.mark.parametrize("source_kind", ["sqlite", "folder"])
def test_direct_store_to_sqlite(tmp_path, workload_factory, source_kind, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src_uri = f"sqlite:///{tmp_path / 'src.db'}" if source_kind == "sqlite" else str(tmp_path / "mlruns")
    dst_uri = f"sqlite:///{tmp_path / 'dst.db'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    src = MlflowClient(src_uri)
    w = workload_factory(src, "direct", runs_per_experiment=2)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the syncer must ask for the legacy store itself
    result = _migrate(src_uri, dst_uri, tmp_path, ["direct/*"])
    assert not [o for o in result.outcomes if not o.ok]
    assert_same(src, MlflowClient(dst_uri), w.experiments)
    again = _migrate(src_uri, dst_uri, tmp_path, ["direct/*"])
    assert again.outcomes == [] and again.plan.in_sync


def test_deleted_mirror_copies_deleted_runs_as_deleted(tmp_path, workload_factory):
    src_uri, dst_uri = f"sqlite:///{tmp_path / 'src.db'}", f"sqlite:///{tmp_path / 'dst.db'}"
    src, dst = MlflowClient(src_uri), MlflowClient(dst_uri)
    w = workload_factory(src, "del", runs_per_experiment=1)
    gone = src.create_experiment("del/gone")
    run = src.create_run(gone, run_name="in-deleted-exp")
    src.set_terminated(run.info.run_id, "FINISHED")
    src.delete_experiment(gone)

    skipped = _migrate(src_uri, dst_uri, tmp_path, ["del/*"])
    assert dst.get_experiment_by_name("del/gone") is None
    assert {o.action.source_id for o in skipped.outcomes}.isdisjoint(w.deleted_runs)

    mirrored = _migrate(src_uri, dst_uri, tmp_path, ["del/*"], deleted="mirror")
    assert not [o for o in mirrored.outcomes if not o.ok]
    assert dst.get_experiment_by_name("del/gone").lifecycle_stage == "deleted"
    assert_same(src, dst, w.experiments + ["del/gone"], view=ViewType.ALL)
    again = _migrate(src_uri, dst_uri, tmp_path, ["del/*"], deleted="mirror")
    assert again.outcomes == [] and all(a.op is Op.SAME or is_unlisted(a) for a in again.plan.actions)
