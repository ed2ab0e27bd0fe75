"""A no-op cycle over 1,500 unchanged runs costs search pages only (counted, not timed)."""

from __future__ import annotations

import math

from mlflow import MlflowClient

from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.kinds.inventory.listing import INVENTORY_KINDS
from tests.fixtures.bulk import noop_cycle, prepare_pair
from tests.fixtures.procs import start_mlflow_server

RUNS = 1500


def test_noop_cycle_over_1500_runs_makes_no_per_run_call(tmp_path):
    src_db, dst_db = prepare_pair(tmp_path, RUNS)
    server = start_mlflow_server(tmp_path / "dest-server", backend_uri=f"sqlite:///{dst_db}")
    try:
        source = f"sqlite:///{src_db}"
        result = noop_cycle(source, server.url, f"sqlite:///{tmp_path / 'state.db'}")
        report = result["report"]
        assert report.ok and report.copied == 0
        assert report.unchanged == RUNS + 1  # the runs and their experiment
        pages = math.ceil(RUNS / PLAIN_MLFLOW.search_page_size)
        calls = {op: n for op, n in result["calls"].items() if n}
        assert calls == {
            # one page each: read by the same-store check, then the scan's first (first_page)
            "source:search_experiments": 1,
            "source:search_runs": pages,
            "source:search_registered_models": 1,  # no models: no version search
            "source:search_prompts": 1,  # no prompts: no version search
            "source:search_datasets": 1,
            "source:search_traces": 1,  # no trace: no dest search
            "source:search_logged_models": 1,
            "source:list scorer": 1,  # the scorers kind: one listing per experiment
            "destination:search_experiments": 1,
            "destination:search_runs": pages,
            # kinds never copied: one listing each (per experiment for 4 of them)
            **{f"source:list {k.name}": 1 for k in INVENTORY_KINDS if not k.only_on},
        }

        # One run changes: only that run costs per-run calls, and the copy is exact.
        src = MlflowClient(source)
        changed = src.search_runs(
            [src.get_experiment_by_name("bench").experiment_id], max_results=1
        )[0]
        src.log_metric(changed.info.run_id, "loss", 0.01, timestamp=1_700_000_000_100, step=100)
        result = noop_cycle(source, server.url, f"sqlite:///{tmp_path / 'state.db'}")
        assert result["report"].ok and result["report"].copied == 1
        assert result["calls"]["destination:log_batch"] == 1
        per_run = {k: v for k, v in result["calls"].items() if "search" not in k}
        assert max(per_run.values()) <= 2, (
            per_run
        )  # one run: a history or a listing per side, no more
        dst = MlflowClient(server.url)
        copy = dst.search_runs(
            [dst.get_experiment_by_name("bench").experiment_id],
            f"tags.`mlflow_syncer.source_run_id` = '{changed.info.run_id}'",
        )[0]
        history = sorted(
            (m.step, m.timestamp, m.value) for m in dst.get_metric_history(copy.info.run_id, "loss")
        )
        assert history == sorted(
            (m.step, m.timestamp, m.value)
            for m in src.get_metric_history(changed.info.run_id, "loss")
        )

        # The next change-only cycle (mirror.runs_full_every): runs ended since the last clean
        # cycle, or RUNNING.
        result = noop_cycle(source, server.url, f"sqlite:///{tmp_path / 'state.db'}", full=False)
        assert result["report"].ok and result["report"].copied == 0
        assert (
            result["calls"]["source:search_runs"] == 2
            and result["calls"]["destination:search_runs"] == 2
        )
    finally:
        server.stop()
