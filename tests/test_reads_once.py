"""A pass asks for each thing once where it can:

- the first chunks' runs are kept from planning for applying (syncer.core.held_runs): a migration of
  a few runs searches the source's runs while planning and not again to apply them; past the budget
  a chunk is read again, as every chunk was before;
- the same-store check's page of experiments is the page the experiment scan starts with
  (syncer.backends.first_page): one listing of the source's experiments per pass, not two;
- the server's multipart capabilities are asked once per end, not once per worker's first run;
- the inventory of what no kind copies is listed while the copy is applied, not before its first
  write (syncer.engine.beside), and the plan ends as a dry run's does.

Either way the copy is the source's, and a rerun plans nothing."""

from __future__ import annotations

import threading

import pytest
from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine import sync as sync_module
from syncer.engine.sync import sync
from tests.compare import assert_same
from tests.emulators.gateway import Gateway, Reply, Request, Rules
from tests.fixtures.workload import make_workload

SEARCH = "POST /api/2.0/mlflow/runs/search"
EXPERIMENTS = "POST /api/2.0/mlflow/experiments/search"
EXP_CREATE = "/api/2.0/mlflow/experiments/create"
WEBHOOKS = "/api/2.0/mlflow/webhooks"
SERVER_INFO = "GET /api/3.0/mlflow/server-info"


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
        probes = front.counts[SERVER_INFO]
        again = sync(settings, dry_run=True)
    finally:
        front.stop()
    assert not result.failed
    created = [a for a in result.plan.actions if a.kind == "run" and a.op is Op.CREATE]
    assert len(created) == runs > 4
    assert planned["searches"] >= 1
    assert listings == 1, front.counts  # the check's page, then the scan's first page: one request
    # the first runs' file repositories, made together on 8 workers, ask the server's multipart
    # capabilities once between them (syncer.backends.endpoint._share_server_capabilities)
    assert probes == 1, front.counts
    if budget is None:
        assert applying == 0, front.counts
    else:
        assert applying >= 1, front.counts
    assert_same(client, MlflowClient(dest_server.url), names, min_runs=runs)
    assert {a.op for a in again.plan.actions if a.kind == "run"} == {Op.SAME}


class Written(Rules):
    """The destination's first experiment creation sets `event`."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.method == "POST" and req.path == EXP_CREATE:
            self.event.set()
        return None


class HeldUntilWritten(Rules):
    """Holds the source's webhook listing (one of the inventory's) until the destination has been
    written to, or 30 s; records which came first."""

    def __init__(self, event: threading.Event) -> None:
        self.event, self.released_by_write = event, []

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if req.path == WEBHOOKS:
            self.released_by_write.append(self.event.wait(30))
        return None


def test_the_inventory_is_listed_beside_the_copy_and_the_plan_is_the_dry_runs(
    source_server, dest_server, unique_name, tmp_path
):
    client = MlflowClient(source_server.url)
    names = make_workload(client, f"{unique_name}/beside").experiments
    written = threading.Event()
    held = HeldUntilWritten(written)
    src = Gateway(source_server.url, [held]).start()
    dst = Gateway(dest_server.url, [Written(written)]).start()
    settings = Settings(
        source=EndpointConfig(tracking_uri=src.url),
        destination=EndpointConfig(tracking_uri=dst.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/beside/*"],
    )
    try:
        written.set()  # a dry run writes nothing: its listing is not held
        dry = sync(settings, dry_run=True)
        written.clear()
        real = sync(settings)
    finally:
        src.stop()
        dst.stop()
    assert not real.failed
    # the copy's first write did not wait for the inventory: the listing was let through by it
    assert held.released_by_write == [True, True]
    # and the copy ends with the dry run's plan
    assert real.plan.actions == dry.plan.actions
    assert_same(client, MlflowClient(dest_server.url), names, min_runs=7)
