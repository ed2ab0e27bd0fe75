"""`mirror --once` cycles against real servers while the source keeps changing."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, ViewType

from syncer.backends.telemetry import api_call_counts
from syncer.cli.app import main
from syncer.kinds.inventory.listing import INVENTORY_KINDS
from tests.compare import assert_same
from tests.fixtures.mirror import T0, make_runs, write_config

SEARCH_OPS = {
    "search_experiments",
    "search_runs",
    "search_registered_models",
    "search_model_versions",
    "search_prompts",
    "search_prompt_versions",
    "search_traces",
    "search_datasets",
    "search_logged_models",
    "list scorer",
    *(f"list {k.name}" for k in INVENTORY_KINDS),
}

pytestmark = pytest.mark.usefixtures("reset_logging")


def _cycle(config: Path, *args: str) -> tuple[int, dict]:
    before = api_call_counts()
    rc = main(["mirror", "--once", "--config", str(config), *args])
    after = api_call_counts()
    return rc, {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _dest_run(dst: MlflowClient, exp_name: str, source_run_id: str):
    exp = dst.get_experiment_by_name(exp_name)
    runs = dst.search_runs(
        [exp.experiment_id],
        f"tags.`mlflow_syncer.source_run_id` = '{source_run_id}'",
        run_view_type=ViewType.ALL,
    )
    assert len(runs) == 1
    return runs[0]


def test_mirror_follows_a_changing_source(
    source_server, dest_server, unique_name, workload_factory, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = workload_factory(src, unique_name)
    config = write_config(
        tmp_path / "mirror.yaml",
        source_server.url,
        dest_server.url,
        [f"{unique_name}/*"],
        tmp_path / "state.db",
    )
    live = w.runs["b-2"]  # still RUNNING in the source
    assert _cycle(config)[0] == 0
    assert_same(src, dst, w.experiments)
    assert _dest_run(dst, f"{unique_name}/beta", live).info.status == "RUNNING"

    # The live run logs more points (one ties the last copied point's step and timestamp), a tag, a
    # file.
    now = int(time.time() * 1000)
    src.log_batch(
        live,
        metrics=[Metric("loss", 42.0, T0 + 1190, 119)]
        + [Metric("loss", 0.001 * s, now + s, s) for s in range(120, 140)],
    )
    src.set_tag(live, "phase", "fine-tune")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "checkpoint-1.txt").write_text("step 140\n")
        src.log_artifact(live, str(Path(tmp) / "checkpoint-1.txt"), "checkpoints")
    assert _cycle(config)[0] == 0
    assert_same(src, dst, w.experiments)
    assert _dest_run(dst, f"{unique_name}/beta", live).info.status == "RUNNING"

    # Between cycles, only an artifact appears: the run is followed because it is RUNNING and
    # active.
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "checkpoint-2.txt").write_text("step 150\n")
        src.log_artifact(live, str(Path(tmp) / "checkpoint-2.txt"), "checkpoints")
    assert _cycle(config)[0] == 0
    assert_same(src, dst, w.experiments)

    # It finishes; meanwhile a new run and a new experiment appear.
    src.log_metric(live, "loss", 0.0005, timestamp=now + 150, step=150)
    src.set_terminated(live, "FINISHED", end_time=T0 + 99_000)
    alpha = src.get_experiment_by_name(f"{unique_name}/alpha").experiment_id
    make_runs(
        src, f"{unique_name}/gamma", 2
    )  # a new experiment of old runs: read whole, times aside
    late = src.create_run(
        alpha, start_time=now, run_name="late"
    ).info.run_id  # found by its end time
    src.log_batch(late, metrics=[Metric("acc", 0.9, now + 1, 0)])
    src.set_terminated(late, "FINISHED", end_time=now + 1000)
    experiments = [*w.experiments, f"{unique_name}/gamma"]
    assert _cycle(config)[0] == 0
    assert_same(src, dst, experiments)
    finished = _dest_run(dst, f"{unique_name}/beta", live)
    assert (finished.info.status, finished.info.end_time) == ("FINISHED", T0 + 99_000)

    # Nothing changed: one cycle costs search pages only, no per-run call, no artifact listing, and
    # so no write: the destination is the one compared equal above.
    rc, calls = _cycle(config)
    assert rc == 0
    ops = {op for (_end, op) in calls}
    assert "search_runs" in ops and ops <= SEARCH_OPS, (
        calls
    )  # the registry is searched when it holds models


def test_deletions_only_when_asked_clean_and_under_the_limit(
    source_server, dest_server, unique_name, tmp_path, capsys
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/del"
    keep, *gone = make_runs(src, name, 4, points=3, artifact=False)
    config = write_config(
        tmp_path / "mirror.yaml", source_server.url, dest_server.url, [name], tmp_path / "state.db"
    )
    assert _cycle(config, "--delete")[0] == 0
    assert_same(src, dst, [name])
    dest_exp = dst.get_experiment_by_name(name).experiment_id

    def active() -> int:
        return len(dst.search_runs([dest_exp], run_view_type=ViewType.ACTIVE_ONLY))

    for rid in gone:  # deletions carry no change signal: full cycles (--full) find them
        src.delete_run(rid)
    assert (
        _cycle(config, "--full")[0] == 0
    )  # without --delete: extra runs are reported, never deleted
    assert active() == 4

    kept_copy = _dest_run(dst, name, keep).info.run_id
    dst.set_tag(
        kept_copy, "mlflow.runName", "renamed by hand"
    )  # a conflict: this cycle has an error
    capsys.readouterr()
    assert _cycle(config, "--full", "--delete", "--max-delete", "10")[0] == 1
    assert (
        "deletions refused: 3 deletions not done: the cycle had errors" in capsys.readouterr().out
    )
    assert active() == 4

    dst.set_tag(kept_copy, "mlflow.runName", "run-0")
    assert _cycle(config, "--full", "--delete", "--max-delete", "2")[0] == 1
    assert "3 deletions exceed --max-delete 2" in capsys.readouterr().out
    assert active() == 4

    assert _cycle(config, "--full", "--delete", "--max-delete", "3")[0] == 0
    assert "deleted 3" in capsys.readouterr().out
    assert active() == 1
    assert_same(src, dst, [name])
    assert len(dst.search_runs([dest_exp], run_view_type=ViewType.DELETED_ONLY)) == 3
