"""`migrate --verify`: changes the fast plan cannot see (a late artifact, a late low-step metric
point, same-size artifact bytes) are found and repaired; a second verify finds nothing."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import Metric

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from tests.compare import assert_same
from tests.fixtures.cli import run_forked


def test_verify_repairs_what_the_fast_plan_cannot_see(
    source_server, dest_server, unique_name, workload_factory, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = workload_factory(src, unique_name, runs_per_experiment=1)
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{unique_name}/*"],
    )
    sync(settings)
    finished = w.runs["a-0"]
    late = tmp_path / "late"
    late.mkdir()
    (late / "evaluation.txt").write_text("logged after the run finished\n")
    src.log_artifact(finished, str(late / "evaluation.txt"), "eval")
    src.log_batch(
        finished, metrics=[Metric("loss", 42.0, 1_700_000_000_001, -1)]
    )  # below the latest step
    other = w.runs["b-0"]
    same_size = tmp_path / "notes with spaces.txt"
    same_size.write_text("HELLO\n")  # same length as the original "hello\n"
    src.log_artifact(other, str(same_size))

    fast = sync(settings)
    assert fast.outcomes == [] and all(
        a.op is Op.SAME for a in fast.plan.actions if a.kind == "run"
    )

    repaired = sync(settings, verify=True)
    fixed = {o.action.source_id for o in repaired.outcomes if o.ok and o.action.op is Op.UPDATE}
    assert fixed == {finished, other}
    assert not [o for o in repaired.outcomes if not o.ok]
    assert_same(src, dst, w.experiments)

    again = sync(settings, verify=True)
    assert again.outcomes == []


def test_mirror_verify_every_cycle_picks_up_a_late_artifact(
    source_server, dest_server, unique_name, workload_factory, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = workload_factory(src, unique_name, runs_per_experiment=1)
    config = tmp_path / "mirror.yaml"
    config.write_text(
        f"source: {{tracking_uri: '{source_server.url}'}}\n"
        f"destination: {{tracking_uri: '{dest_server.url}'}}\n"
        f"state: 'sqlite:///{tmp_path / 'state.db'}'\n"
        f"experiments: ['{unique_name}/*']\nmirror: {{verify_every: 1}}\n"
    )
    once = ["mirror", "--config", str(config), "--once"]
    assert run_forked(*once).returncode == 0
    late = tmp_path / "late.txt"
    late.write_text("late\n")
    src.log_artifact(w.runs["a-0"], str(late))  # a-0 finished long ago
    done = run_forked(*once)
    assert done.returncode == 0, done.stderr
    assert_same(src, dst, w.experiments)
