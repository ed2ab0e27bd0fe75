"""Scale-out: several `mlflow-syncer worker` processes share one real PostgreSQL state store.

Three workers copy a Databricks-like source (the emulating gateway answers 429 above its rate limits) into a
real MLflow server; one is SIGKILLed in the middle of a unit. The others finish, one of them takes the killed
worker's unit over once its lease has ended, the copy is exact, no run is copied twice, and the gateway never
answered 429. That the budget is shared (and not merely large enough) is shown by the budget test below: three
clients of one PostgreSQL bucket together get no more than its rate.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, ViewType

from syncer.backends.endpoint import Endpoint
from syncer.backends.ratelimit import RateLimiter
from syncer.core.capabilities import RateLimits
from syncer.core.snapshot import TAG_SOURCE_RUN_ID
from syncer.state import leases
from syncer.state.rate_budget import StateRateBudget
from syncer.state.store import StateStore
from tests.compare import snapshot
from tests.fixtures.cli import SYNCER, cli_env, kill_at, run_cli, write_config
from tests.fixtures.workload import T0, make_workload
from tests.test_databricks_to_azureml import USER

# The emulated workspace's limits for this test, and the same limits in mlflow-syncer's config: every HTTP
# request to the workspace takes a token from the buckets the workers share (syncer.backends.http_meter),
# requests MLflow makes inside one call and its own retries included.
RATES = {"search": 2.0, "log_batch": 47.0, "other": 10.0}
CONFIGURED = RATES
DEFAULT_RATES = {"search": 7.0, "log_batch": 47.0, "other": 127.0}
LEASE = "6s"


@pytest.fixture
def limited_workspace(databricks_env):
    databricks_env.rules.set_rates(RATES)
    yield databricks_env
    databricks_env.rules.set_rates(DEFAULT_RATES)


def _config(tmp_path, workspace, dest_url, unique_name):
    return write_config(tmp_path / "c.yaml", source={"tracking_uri": "databricks", "registry_uri": "databricks",
                                                     "rate_limits": CONFIGURED},
                        destination={"tracking_uri": dest_url}, experiments=[f"{USER}/{unique_name}/*"],
                        workers=4, scale_out={"lease": LEASE, "job": "copy-1"})


def _env(workspace, state_url: str, **extra: str) -> dict[str, str]:
    return cli_env(DATABRICKS_HOST=workspace.url, DATABRICKS_TOKEN=workspace.token, MLFLOW_SYNCER_STATE=state_url,
                   **extra)


def _start(config, env) -> subprocess.Popen:
    return subprocess.Popen([SYNCER, "worker", "--config", str(config), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _small_experiment(client: MlflowClient, name: str) -> str:
    run = client.create_run(client.create_experiment(name), start_time=T0, run_name="small")
    client.log_batch(run.info.run_id, metrics=[Metric("m", 0.5, T0, 0)], params=[Param("p", name)])
    client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 1)
    return name


def test_three_workers_one_killed_copy_exactly_once_within_the_shared_rate_limit(
        limited_workspace, dest_server, postgres_server, pg_database, unique_name, tmp_path):
    src = MlflowClient(limited_workspace.server.url)
    workloads = [make_workload(src, f"{USER}/{unique_name}/w{i}", runs_per_experiment=2) for i in range(2)]
    names = [n for w in workloads for n in w.experiments]  # 4 experiments, 10 live runs (parents nested across)
    names += [_small_experiment(src, f"{USER}/{unique_name}/s{i}") for i in range(6)]  # and 6 runs more
    expected = snapshot(src, names, dest=False)
    state_url = postgres_server.url(pg_database())
    config = _config(tmp_path, limited_workspace, dest_server.url, unique_name)
    before = Counter(limited_workspace.gateway.counts)

    killed = _start(config, _env(limited_workspace, state_url, **kill_at("create_run:2:after")))
    others = [_start(config, _env(limited_workspace, state_url)) for _ in range(2)]
    kout, kerr = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, f"{kout}\n{kerr}"
    outputs = [p.communicate(timeout=600) for p in others]
    for p, (out, err) in zip(others, outputs, strict=True):
        assert p.returncode == 0, f"{out}\n{err}"

    # The killed worker's unit was taken over by a survivor, once its lease had ended.
    took = [line for out, _ in outputs for line in out.splitlines() if line.startswith("took over ")]
    assert len(took) == 1 and took[0].endswith(f":{killed.pid} (its lease had ended)"), took
    store = StateStore(state_url, pair="", read_only=True)
    units = {u.unit: (u.status, u.attempts) for u in leases.units(store, "copy-1")}
    store.close()
    taken_unit = took[0].split()[2]
    assert units.pop(taken_unit) == ("done", 2)
    assert units == {u: ("done", 1) for u in units} and len(units) == 10  # 9 experiments and the registry unit

    # The combined rate never went above the shared limit: the workspace never had to answer 429, and never
    # saw more requests of a class within one second than its bucket allows (rate, plus a burst of rate).
    counts = limited_workspace.gateway.counts - before
    assert {k: n for k, n in counts.items() if k.startswith("429")} == {}
    assert counts["class search"] >= 10 and counts["class other"] >= 100  # every unit searched the source
    busiest = limited_workspace.rules.busiest_second()
    assert {cls: n <= 2 * RATES[cls] for cls, n in busiest.items()} == {c: True for c in busiest}, busiest
    assert busiest["other"] >= RATES["other"]  # the workers were held back by the limit, not idle

    # The copy is exact, and no source run has two copies.
    dst = MlflowClient(dest_server.url)
    dest_names = [n.removeprefix(f"{USER}/") for n in names]
    got = snapshot(dst, dest_names, dest=True)  # raises on a second live copy of a source run
    for src_name, dst_name in zip(names, dest_names, strict=True):
        assert got[dst_name] == expected[src_name], f"{dst_name} differs from {src_name}"
    copies = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in dest_names],
                             run_view_type=ViewType.ALL)
    assert len(copies) == sum(len(e["runs"]) for e in expected.values()) == 16
    assert len({r.data.tags[TAG_SOURCE_RUN_ID] for r in copies}) == 16


def test_migrate_refuses_while_workers_hold_leases(postgres_server, pg_database, source_server, dest_server,
                                                   tmp_path):
    state_url = postgres_server.url(pg_database())
    config = write_config(tmp_path / "c.yaml", source={"tracking_uri": source_server.url},
                          destination={"tracking_uri": dest_server.url}, experiments=["nothing-matches-*"])
    first = run_cli("worker", "--config", str(config), "--job", "j", env=cli_env(MLFLOW_SYNCER_STATE=state_url))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"worker {first.stdout.split()[1]} 1 units done, 0 failed "
                                         "(0 objects copied); job 'j': done 1"]
    store = StateStore(state_url, pair=f"{Endpoint(source_server.url).store_key} -> "
                                       f"{Endpoint(dest_server.url).store_key}")
    assert leases.seed(store, "k", ["1"], "test")
    assert leases.claim(store, "k", "elsewhere:42", lease=300) == leases.Claim("experiment:1", 1)
    refused = run_cli("migrate", "--config", str(config), "--no-progress",
                      env=cli_env(MLFLOW_SYNCER_STATE=state_url))
    assert refused.returncode == 2
    message = ("mlflow-syncer: error: 1 work units of job 'k' are held by scale-out workers (elsewhere:42); "
               "wait for them to finish or stop them first")
    assert refused.stderr.strip() == message
    mirror = run_cli("mirror", "--once", "--config", str(config), env=cli_env(MLFLOW_SYNCER_STATE=state_url))
    assert mirror.returncode == 2 and message in mirror.stderr, mirror.stderr
    store.acquire_lock(holder="mlflow-syncer")
    try:
        blocked = run_cli("worker", "--config", str(config), "--job", "k",
                          env=cli_env(MLFLOW_SYNCER_STATE=state_url))
    finally:
        store.release_lock()
        store.close()
    assert blocked.returncode == 2
    assert "holds the writer lock of state store" in blocked.stderr and "workers start once it has finished" \
        in blocked.stderr


def test_units_are_claimed_once_each_registry_last_and_taken_over_after_their_lease(postgres_server, pg_database):
    store = StateStore(postgres_server.url(pg_database()), pair="a -> b")
    try:
        assert leases.seed(store, "j", ["1", "2"], "w1") and not leases.seed(store, "j", ["1", "2", "3"], "w2")
        one = leases.claim(store, "j", "w1", lease=300)
        two = leases.claim(store, "j", "w2", lease=300)
        assert (one, two) == (leases.Claim("experiment:1", 1), leases.Claim("experiment:2", 1))
        assert leases.claim(store, "j", "w3", lease=300) is None  # the registry waits for the experiments
        assert leases.finish(store, "j", "experiment:1", "w1")
        assert not leases.finish(store, "j", "experiment:2", "w1")  # not w1's
        assert leases.renew(store, "j", "w2", lease=0) == {"experiment:2"}  # w2's lease ends now
        assert leases.claim(store, "j", "w3", lease=300) == leases.Claim("experiment:2", 2, taken_over="w2")
        assert leases.renew(store, "j", "w2", lease=300) == set()  # w2 learns it lost the unit
        assert leases.finish(store, "j", "experiment:2", "w3", error="1 objects failed, 0 conflicts or errors")
        assert leases.claim(store, "j", "w1", lease=300) == leases.Claim("registry", 1)
        assert [u.owner for u in leases.live_leases(store)] == ["w1"]
        leases.release(store, "j", "registry", "w1")
        assert leases.counts(store, "j") == {"done": 1, "failed": 1, "pending": 1}
        for worker in ("w4", "w5"):  # two more workers die holding it: its fourth claim fails the unit
            assert leases.claim(store, "j", worker, lease=0) == leases.Claim("registry", 2 + (worker == "w5"),
                                                                            "w4" if worker == "w5" else None)
        assert leases.claim(store, "j", "w6", lease=300) is None
        assert [(u.unit, u.status, u.error) for u in leases.units(store, "j")] == [
            ("experiment:1", "done", None),
            ("experiment:2", "failed", "1 objects failed, 0 conflicts or errors"),
            ("registry", "failed", "abandoned: claimed 3 times by workers that stopped (last: w5)")]
    finally:
        store.close()


def test_three_clients_of_one_bucket_share_its_rate(postgres_server, pg_database):
    url = postgres_server.url(pg_database())
    stores = [StateStore(url, pair="a -> b") for _ in range(3)]  # three connection pools, as three processes
    rate, each = 10.0, 10  # a bucket of 10/s holds at most 7.5 tokens (a one-second burst, less the jitter room)
    granted: list[float] = []

    def draw(store: StateStore) -> None:
        limiter = RateLimiter(RateLimits(other=rate))
        limiter.share(StateRateBudget(store), "databricks:https://workspace")
        for _ in range(each):
            limiter.acquire("other")
            granted.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=draw, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    # 30 tokens from one bucket of 10/s holding at most 7.5: the last cannot come before (30 - 7.5) / 10 s
    # (three separate budgets would hand out all 30 at once, from their bursts).
    assert len(granted) == 3 * each
    assert max(granted) - started >= (3 * each - 7.5) / rate - 0.05


def test_on_sqlite_one_worker_runs_under_the_writer_lock_and_takes_a_killed_ones_unit_at_once(
        source_server, dest_server, unique_name, tmp_path):
    src = MlflowClient(source_server.url)
    names = [_small_experiment(src, f"{unique_name}/s{i}") for i in range(2)]
    config = write_config(tmp_path / "c.yaml", source={"tracking_uri": source_server.url},
                          destination={"tracking_uri": dest_server.url}, experiments=[f"{unique_name}/*"],
                          state=f"sqlite:///{tmp_path / 'state.db'}")
    killed = run_cli("worker", "--config", str(config), env=cli_env(**kill_at("create_run:1:after")))
    assert killed.returncode == -signal.SIGKILL
    again = run_cli("worker", "--config", str(config), "--lease", "1h")  # no waiting for the lease on SQLite
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    # copied: the killed worker's run finished (an update), the second experiment and its run
    assert lines[0].endswith(": 3 units done, 0 failed (3 objects copied); job 'migrate': done 3"), lines
    assert lines[1].startswith("took over experiment:") and lines[1].endswith(" (its lease had ended)"), lines
    dst = MlflowClient(dest_server.url)
    assert snapshot(dst, names, dest=True) == snapshot(src, names, dest=False)
    copies = dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in names], run_view_type=ViewType.ALL)
    assert len(copies) == 2
