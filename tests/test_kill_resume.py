"""SIGKILL a real `mlflow-syncer migrate` at many exact points; every rerun must converge to an exact copy.

The points are chosen deterministically with the test hook MLFLOW_SYNCER_TEST_KILL_AT (tests/killhook/sitecustomize.py):
the process kills itself just before or just after the N-th call of an operation. One source workload is
shared; each point migrates into destination experiments of its own (a name-mapping rule adds a prefix).
"""

from __future__ import annotations

import signal

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType

from syncer.config import EndpointConfig, NameRule, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from tests.compare import run_record, snapshot
from tests.fixtures.cli import cli_env, kill_at, run_cli, write_config
from tests.fixtures.workload import T0, make_workload

# (point, phase): op:N[:after]. The workload has 2 experiments, 4 runs (one with 2,500 points of one
# metric: three log_batch calls; then, after each run's set_terminated, a batch carrying only its fingerprint
# marker: a plain MLflow destination gets no separate set_tag), 8 artifact files.
KILL_POINTS = [
    "create_experiment:1",               # experiment creation
    "create_experiment:1:after",
    "create_experiment:2:after",
    "create_run:1",                      # run creation
    "create_run:1:after",
    "create_run:3:after",
    "get_metric_history_bulk:1:after",   # metric reads (histories of several runs per request)
    "log_batch:1",
    "log_batch:1:after",
    "log_batch:2:after",
    "log_batch:3",
    "log_batch:4:after",
    "log_inputs:2:after",
    "log_artifact:1",                    # artifact upload
    "log_artifact:1:after",
    "log_artifact:7",                    # (a kill after a run's 3rd file: tests/test_conformance.py)
    "set_terminated:1:after",            # finishing a run
    "log_batch:6",                       # a run's last batch, which carries its fingerprint marker
    "log_batch:5:after",
    "state_record:1:after",              # state commit
    "state_record:3",
    "state_record:5:after",
    "state_record:8:after",
]


@pytest.fixture(scope="module")
def kill_source(source_server, tmp_path_factory):
    """One small workload in the source for every kill point."""
    import uuid

    client = MlflowClient(source_server.url)
    prefix = f"kill-{uuid.uuid4().hex[:8]}"
    w = make_workload(client, prefix, runs_per_experiment=1)
    exp = client.get_experiment_by_name(w.experiments[0]).experiment_id
    run = client.create_run(exp, start_time=T0, run_name="long")
    client.log_batch(run.info.run_id, metrics=[Metric("long", i * 0.5, T0 + i, i) for i in range(2500)])
    client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 99_000)
    return prefix, w, snapshot(client, w.experiments, dest=False)


def _settings(source: str, dest: str, state: str, prefix: str, tag: str) -> Settings:
    return Settings(source=EndpointConfig(tracking_uri=source), destination=EndpointConfig(tracking_uri=dest),
                    state=state, experiments=[f"{prefix}/*"],
                    experiment_names=[NameRule(match=f"^{prefix}/", replace=f"{tag}/{prefix}/")])


def _assert_ended_only_when_complete(dst: MlflowClient, names: list[str], expected: dict, point: str) -> None:
    """A half-copied run never shows its end: a copy whose status is no longer RUNNING holds every param,
    metric key, dataset input and file of its source (status and end time are written after them)."""
    want = {rid: rec for e in expected.values() for rid, rec in e["runs"].items()}
    for name in names:
        exp = dst.get_experiment_by_name(name)
        for run in dst.search_runs([exp.experiment_id]) if exp else []:
            if run.info.status == "RUNNING":
                continue
            source = want[run.data.tags["mlflow_syncer.source_run_id"]]
            copy = run_record(dst, run, {}, "destination")
            for field in ("params", "inputs", "artifacts", "status", "end_time"):
                assert copy[field] == source[field], f"{name}: {field} of an ended copy differs after {point}"
            assert sorted(copy["metrics"]) == sorted(source["metrics"]), f"{name}: metrics after {point}"


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_then_rerun_converges(point, kill_source, source_server, dest_server, tmp_path):
    prefix, w, expected = kill_source
    tag = "k-" + point.replace(":", "-")
    state = f"sqlite:///{tmp_path / 'state.db'}"
    config = write_config(
        tmp_path / "c.yaml", source={"tracking_uri": source_server.url},
        destination={"tracking_uri": dest_server.url}, state=state, experiments=[f"{prefix}/*"],
        experiment_names=[{"match": f"^{prefix}/", "replace": f"{tag}/{prefix}/"}], workers=2)
    killed = run_cli("migrate", "--config", str(config), "--no-progress",
                     env=cli_env(**kill_at(point)))
    assert killed.returncode == -signal.SIGKILL, f"not killed at {point}: {killed.returncode} {killed.stderr}"
    _assert_ended_only_when_complete(MlflowClient(dest_server.url), [f"{tag}/{n}" for n in w.experiments],
                                     expected, point)

    settings = _settings(source_server.url, dest_server.url, state, prefix, tag)
    rerun = sync(settings)
    assert not rerun.failed, [o.error for o in rerun.failed]
    assert not [a for a in rerun.plan.actions if a.op in (Op.CONFLICT, Op.ERROR)]

    dst = MlflowClient(dest_server.url)
    names = [f"{tag}/{n}" for n in w.experiments]
    got = snapshot(dst, names, dest=True)  # raises on a duplicate live copy of a source run
    for src_name, dst_name in zip(w.experiments, names, strict=True):
        assert got[dst_name] == expected[src_name], f"{dst_name} differs from {src_name} after kill at {point}"
    live = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in names],
                           run_view_type=ViewType.ACTIVE_ONLY)
    assert len(live) == sum(len(e["runs"]) for e in expected.values())
    again = sync(settings, dry_run=True)
    assert all(a.op is Op.SAME for a in again.plan.actions), "a second pass still finds work"
