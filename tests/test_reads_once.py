"""A pass asks for each thing once where it can:

- the first chunks' runs are kept from planning for applying (syncer.core.held_runs): a migration of
  a few runs searches the source's runs while planning and not again to apply them; past the budget
  a chunk is read again, as every chunk was before;
- the same-store check's page of experiments is the page the experiment scan starts with
  (syncer.backends.first_page): one listing of the source's experiments per pass, not two.

Either way the copy is the source's, and a rerun plans nothing."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine import sync as sync_module
from syncer.engine.sync import sync
from tests.compare import assert_same
from tests.emulators.gateway import Gateway
from tests.fixtures.workload import make_workload

SEARCH = "POST /api/2.0/mlflow/runs/search"
EXPERIMENTS = "POST /api/2.0/mlflow/experiments/search"


@pytest.mark.parametrize("budget", [None, 4], ids=["kept", "read-again"])
def test_runs_planned_are_applied_without_searching_them_again(
    budget, source_server, dest_server, unique_name, tmp_path, monkeypatch
):
    # the workload's runs in one chunk: kept under the default budget, read again under 4
    if budget is not None:
        monkeypatch.setattr(sync_module, "HOLD_RUNS", budget)
    client = MlflowClient(source_server.url)
    names = make_workload(client, f"{unique_name}/held").experiments
    runs = len(client.search_runs([client.get_experiment_by_name(n).experiment_id for n in names]))
    front = Gateway(source_server.url, []).start()
    settings = Settings(
        source=EndpointConfig(tracking_uri=front.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/held/*"],
    )
    planned: dict[str, int] = {}
    try:
        result = sync(settings, on_plan=lambda r: planned.update(searches=front.counts[SEARCH]))
        applying = front.counts[SEARCH] - planned["searches"]
        listings = front.counts[EXPERIMENTS]
        again = sync(settings, dry_run=True)
    finally:
        front.stop()
    assert not result.failed
    created = [a for a in result.plan.actions if a.kind == "run" and a.op is Op.CREATE]
    assert len(created) == runs > 4
    assert planned["searches"] >= 1
    assert listings == 1, front.counts  # the check's page, then the scan's first page: one request
    if budget is None:
        assert applying == 0, front.counts
    else:
        assert applying >= 1, front.counts
    assert_same(client, MlflowClient(dest_server.url), names, min_runs=runs)
    assert {a.op for a in again.plan.actions if a.kind == "run"} == {Op.SAME}
