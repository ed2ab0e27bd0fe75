"""Creates whose answer was lost are sent again by MLflow's HTTP layer: the extra copies they leave
are retired once per experiment after the runs are applied (one listing), not by a search in every
run's chain."""

from __future__ import annotations

import glob
import os
import tempfile

from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.backends import telemetry
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.snapshot import TAG_DUPLICATE_OF, TAG_SOURCE_RUN_ID
from syncer.engine.sync import sync
from tests.compare import assert_same
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.workload import make_workload


def _calls() -> dict[tuple[str, str], float]:
    return telemetry.api_call_counts()


def _ahead_folders() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "mlflow-syncer-ahead-*")))


def test_lost_create_answers_leave_no_duplicate_and_cost_one_listing_per_experiment(
    source_server, dest_server, fault_proxy, unique_name, tmp_path, monkeypatch
):
    # The read-ahead folders go to a temporary folder of this test's own: the machine's /tmp is
    # shared with other processes (other pytest workers too) that make and remove such folders at
    # any time.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=3)  # alpha: 4 runs, beta: 3 runs
    proxy = fault_proxy(
        dest_server.url, FaultConfig(rules=[Rule("/runs/create", "reset_after", times=2)])
    )
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=proxy.url),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[f"{unique_name}/*"],
    )

    before, folders = _calls(), _ahead_folders()
    result = sync(settings)
    after = _calls()
    spent = {k: after[k] - before.get(k, 0.0) for k in after if after[k] != before.get(k, 0.0)}
    assert not result.failed, [o.error for o in result.failed]
    assert proxy.faults["reset_after"] == 2

    exp_ids = [dst.get_experiment_by_name(n).experiment_id for n in w.experiments]
    live = dst.search_runs(exp_ids, run_view_type=ViewType.ACTIVE_ONLY)
    assert len(live) == len(w.runs) == 7
    assert_same(src, dst, w.experiments)
    by_source = {r.data.tags[TAG_SOURCE_RUN_ID]: r.info.run_id for r in live}
    retired = [r for r in dst.search_runs(exp_ids, run_view_type=ViewType.DELETED_ONLY)]
    assert len(retired) == 2
    for run in retired:
        assert run.data.tags[TAG_DUPLICATE_OF] == by_source[run.data.tags[TAG_SOURCE_RUN_ID]]

    again = sync(settings, dry_run=True)
    assert all(a.op is Op.SAME for a in again.plan.actions)
    # The destination experiments did not exist, so the scan searched no runs: the two searches are
    # one listing per experiment (7 runs created), not one search per created run.
    assert spent[("destination", "search_runs")] == 2
    # Read ahead or not, each of the 6 x 4 files was downloaded once and uploaded once; nothing left
    # behind.
    assert spent[("source", "download_artifact")] == spent[("destination", "log_artifact")] == 24
    assert folders == set() and _ahead_folders() == set()
