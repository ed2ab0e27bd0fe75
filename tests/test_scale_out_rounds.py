"""A scale-out job started again once complete: `worker --job NAME` begins the job's next round, which copies what
changed since and nothing already in sync (docs/SCALE_OUT.md), on a real PostgreSQL and real MLflow servers."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.core.snapshot import TAG_SOURCE_RUN_ID
from syncer.state import leases
from syncer.state.store import StateStore
from tests.compare import snapshot
from tests.fixtures.cli import cli_env, run_cli, write_config
from tests.fixtures.workload import T0
from tests.test_scale_out import _small_experiment


def test_a_new_round_starts_once_and_only_when_every_unit_is_finished(postgres_server, pg_database):
    store = StateStore(postgres_server.url(pg_database()), pair="a -> b")
    try:
        assert leases.seed(store, "j", ["1"], "w1") and leases.job_round(store, "j") == 1
        assert leases.new_round(store, "j", ["1", "2"], "w2") is None  # round 1 is open: join it
        assert leases.claim(store, "j", "w1", lease=300) == leases.Claim("experiment:1", 1)
        assert leases.new_round(store, "j", ["1", "2"], "w2") is None  # a unit is running
        assert leases.finish(store, "j", "experiment:1", "w1")
        assert leases.claim(store, "j", "w1", lease=300) == leases.Claim("registry", 1)
        assert leases.finish(store, "j", "registry", "w1", error="1 objects failed, 0 conflicts or errors")
        assert leases.new_round(store, "j", ["1", "2"], "w2") == 2  # done and failed units: a new round
        assert leases.new_round(store, "j", ["1", "2", "3"], "w3") is None  # a second starter joins round 2
        assert leases.job_round(store, "j") == 2
        assert [(u.unit, u.status, u.owner, u.attempts, u.error) for u in leases.units(store, "j")] == [
            ("experiment:1", "pending", None, 0, None), ("experiment:2", "pending", None, 0, None),
            ("registry", "pending", None, 0, None)]
        assert leases.job_round(store, "other") == 1 and leases.new_round(store, "other", ["1"], "w2") is None
    finally:
        store.close()


def _worker_line(config, env) -> str:
    done = run_cli("worker", "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines
    owner = lines[0].split()[1]
    return lines[0].replace(owner, "W:")


def test_a_finished_job_started_again_copies_what_changed_since(
        postgres_server, pg_database, source_server, dest_server, unique_name, tmp_path):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    names = [_small_experiment(src, f"{unique_name}/a"), _small_experiment(src, f"{unique_name}/b")]
    config = write_config(tmp_path / "c.yaml", source={"tracking_uri": source_server.url},
                          destination={"tracking_uri": dest_server.url}, experiments=[f"{unique_name}/*"],
                          scale_out={"job": "nightly"})
    env = cli_env(MLFLOW_SYNCER_STATE=postgres_server.url(pg_database()))
    # 2 experiments and their 2 runs
    assert _worker_line(config, env) == "worker W: 3 units done, 0 failed (4 objects copied); job 'nightly': done 3"

    # Since then: a new run in `a`, a new experiment `c` with one run.
    run = src.create_run(src.get_experiment_by_name(names[0]).experiment_id, start_time=T0 + 5, run_name="later")
    src.log_param(run.info.run_id, "p", "later")
    src.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 6)
    names.append(_small_experiment(src, f"{unique_name}/c"))
    # Round 2 has a unit for `c` too, and copies those 3 objects only (the run in `b` is in sync: not written).
    assert _worker_line(config, env) == ("worker W: 4 units done, 0 failed (3 objects copied); "
                                         "job 'nightly' (round 2): done 4")
    assert snapshot(dst, names, dest=True) == snapshot(src, names, dest=False)
    copies = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in names], run_view_type=ViewType.ALL)
    assert len(copies) == len({r.data.tags[TAG_SOURCE_RUN_ID] for r in copies}) == 4

    # Nothing changed: round 3 copies nothing.
    assert _worker_line(config, env) == ("worker W: 4 units done, 0 failed (0 objects copied); "
                                         "job 'nightly' (round 3): done 4")
