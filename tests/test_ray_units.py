"""`migrate --engine ray` on a real local Ray cluster (a head of one CPU and a worker node of two:
three Ray worker processes on two nodes).

A source of three experiments, one of them big enough to be cut into start-time ranges, is copied
into a real MLflow server with a PostgreSQL state store; one Ray worker process is SIGKILLed in the
middle of a unit. Ray runs the unit again, it resumes from the state store and the destination, and
the copy is exact: no run twice, every range accounted for. (The same with a 20,000-run
experiment, its ranges cut from sampled start times: bench/ray_kill.py.) Three more experiments are
copied through a front answering 429 + Retry-After above its rate limits, by the same cluster's
three worker processes: together they stay within the limits (one budget actor,
syncer.engine.ray_budget).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import sys
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cloudpickle
import pytest
import ray
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, ViewType

from syncer.apply.units import Outcome
from syncer.backends.endpoint import Endpoint
from syncer.backends.ratelimit import RateLimiter
from syncer.cli.ray_engine import RayUnits
from syncer.config import Settings
from syncer.core.actions import Action, Op, Plan
from syncer.core.capabilities import RateLimits
from syncer.core.capabilities import resolve as resolve_caps
from syncer.core.snapshot import TAG_SOURCE_RUN_ID, RunSnap, retired
from syncer.engine import ray_budget, ray_units
from syncer.engine.sync import PassOptions, SyncResult
from syncer.kinds.runs.facts import RunFacts
from syncer.plan.extra_runs import ExtraCandidate, plan_extra_runs
from tests.compare import snapshot
from tests.emulators.databricks import most_within, rate_class
from tests.emulators.gateway import Bucket, Gateway, Reply, Request, Rules, error
from tests.fixtures.bulk import T0, seed_runs
from tests.fixtures.cli import cli_env, run_forked, write_config
from tests.fixtures.ray_cluster import start_ray_cluster

# runs of the big experiment, start times T0 + i but the latest ZERO without one (0, as MLflow
# answers a run an old client or a direct store logged without one): ordered by start time, ranges
# of 30 cut at T0 + 30 - ZERO, + 60 - ZERO, + 90 - ZERO (those without one in the first range)
BIG = 120
ZERO = 3
RANGE_RUNS = 30
# The session's servers are shared with other modules' tests: every name here starts with this
# module's own prefix.
P = f"t-{uuid.uuid4().hex[:10]}"
BIG_NAME, SMALL = f"{P}/ray/big", (f"{P}/ray/small-1", f"{P}/ray/small-2")
# copied through a rate-limited front: ranges of 10 cut them in two each
LIMITED = (f"{P}/rl/a", f"{P}/rl/b", f"{P}/rl/c")
LIMITED_RUNS = 12
# low enough to hold 3 workers back (a source is only read: its searches bound the time, 24 of them)
FRONT_RATES = {"experiments": 4.0, "search": 4.0, "log_batch": 2.0, "other": 8.0}


@pytest.fixture(scope="module")
def ray_cluster():
    cluster = start_ray_cluster(workers=1, worker_cpus=2)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def bulk_source(source_server):
    """The session's source server (a real MLflow server over a SQLite store) holding the big
    experiment and two small ones (and the rate-limited test's three), each made in one ORM
    transaction (tests/fixtures/bulk.py)."""
    root, db = source_server.root, Path(source_server.backend_uri.removeprefix("sqlite:///"))
    big = seed_runs(db, BIG_NAME, BIG)
    _without_start_time(db, big, ZERO)
    small = [seed_runs(db, name, 3) for name in SMALL]
    for name in LIMITED:
        seed_runs(db, name, LIMITED_RUNS)
    for name in (BIG_NAME, *SMALL, *LIMITED):
        (root / "artifacts" / name).mkdir(parents=True)  # a store that never held a file
    return source_server, big, small


def _without_start_time(db, experiment_id: str, n: int) -> None:
    """Give `n` runs of the experiment (its latest) no start time: 0, which is what MLflow's API
    answers for a run logged without one (a NULL in its SQL store fails every search of the
    experiment with HTTP 500: RunInfo refuses a None start time)."""
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE runs SET start_time = 0 WHERE run_uuid IN (SELECT run_uuid FROM runs WHERE"
            " experiment_id = ? ORDER BY start_time DESC LIMIT ?)",
            (int(experiment_id), n),
        )


def _seed(client: MlflowClient, root, name: str, runs: int) -> str:
    """An experiment of `runs` finished runs (start times T0 + i), one metric and one param each;
    its id."""
    (root / "artifacts" / name).mkdir(parents=True)
    eid = client.create_experiment(name, artifact_location=str(root / "artifacts" / name))
    for i in range(runs):
        run = client.create_run(eid, start_time=T0 + i, run_name=f"{name}-{i}")
        client.log_batch(
            run.info.run_id, metrics=[Metric("m", i / 2, T0, 0)], params=[Param("p", str(i))]
        )
        client.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 10)
    return eid


def _kill_a_unit_mid_way(
    migrate: Future, cluster, dest_db: str, experiment_id: str, made_here: tuple[str, ...]
) -> int:
    """Once the big experiment's first range is copied and a later range has copied some of its
    runs (not all), SIGKILL a Ray worker process running a unit; its pid. The copies (the runs
    but those the test made, `made_here`) are counted in the destination server's SQLite store,
    read-only (a search returning hundreds of runs twice a second cost the server more CPU than
    the copy)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not migrate.done():
        with contextlib.closing(
            sqlite3.connect(f"file:{dest_db}?mode=ro", uri=True, timeout=30)
        ) as db:
            (copied,) = db.execute(
                "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'"
                f" AND run_uuid NOT IN ({', '.join('?' * len(made_here))})",
                (int(experiment_id), *made_here),
            ).fetchone()
        busy = cluster.task_processes("_unit_task")
        if RANGE_RUNS < copied < BIG - RANGE_RUNS and busy:
            os.kill(busy[0], signal.SIGKILL)
            return busy[0]
        time.sleep(0.1)
    done = migrate.result(timeout=600)
    raise AssertionError(
        f"no unit in flight to kill (migrate exited with {done.returncode}):\n{done.stdout}\n"
        f"{done.stderr}"
    )


def test_units_on_ray_one_worker_killed_copy_exactly_once_every_range_accounted(
    ray_cluster, bulk_source, dest_server, postgres_server, pg_database, tmp_path
):
    server, big, small = bulk_source
    names = [BIG_NAME, *SMALL]
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": server.url},
        destination={"tracking_uri": dest_server.url},
        experiments=[f"{P}/ray/*"],
        workers=2,
        prompts=[],
        copy_models=False,
        mirror={"delete": True},
    )
    dst = MlflowClient(dest_server.url)
    # In the big experiment's destination: a run not created by the syncer (second range), and one
    # claiming to copy a run of another experiment (third range): that range cannot tell it from a
    # copy of another range's run, so the driver's pass reads the experiment whole, as before.
    dest_big = dst.create_experiment(BIG_NAME)
    foreign = dst.create_run(dest_big, start_time=T0 + RANGE_RUNS * 3 // 2, run_name="f")
    elsewhere = MlflowClient(server.url).search_runs([small[0]], max_results=1)[0].info.run_id
    claims = dst.create_run(
        dest_big, T0 + RANGE_RUNS * 5 // 2, {TAG_SOURCE_RUN_ID: elsewhere}, run_name="c"
    )
    env = cli_env(
        RAY_USAGE_STATS_ENABLED="0", MLFLOW_SYNCER_STATE=postgres_server.url(pg_database())
    )
    args = ["--config", str(config), "--engine", "ray", "--ray-address", ray_cluster.address]
    args += ["--range-runs", str(RANGE_RUNS)]
    dest_db = dest_server.backend_uri.removeprefix("sqlite:///")
    with ThreadPoolExecutor(1) as pool:
        migrate = pool.submit(run_forked, "migrate", *args, "--log-level", "warning", env=env)
        made_here = (foreign.info.run_id, claims.info.run_id)
        killed = _kill_a_unit_mid_way(migrate, ray_cluster, dest_db, dest_big, made_here)
        done = migrate.result(timeout=600)
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, f"{out}\n{err}"
    assert (
        killed not in ray_cluster.pids()
    )  # the worker process is gone; Ray ran its unit again elsewhere

    # Every unit finished: the two small experiments whole, the big one in four gap-free ranges.
    cuts = [T0 + RANGE_RUNS * i - ZERO for i in (1, 2, 3)]
    ranges = [
        f"experiment:{big}[{lo or ''},{hi or ''})"
        for lo, hi in zip([None, *cuts], [*cuts, None], strict=True)
    ]
    units = [line.split()[2].rstrip(":") for line in err.splitlines() if line.startswith("unit ")]
    assert sorted(units) == sorted(ranges + [f"experiment:{e}" for e in small]), err
    (first,) = [
        line for line in out.splitlines() if line.startswith("ray: ")
    ]  # (Ray's own notes: stdout)
    assert first.startswith(
        "ray: 6 units (4 start-time ranges), 6 done, 0 failed; created "
    ) and first.endswith(
        ", failed 0, conflicts 0; ranged experiments settled by their units: 0 of 1"
    ), out
    # as the local engine: the run not created by the syncer is reported (and left), the other is a
    # second copy of a source run, seen with the first in the pass's chunk: retired
    assert re.search(r"only in destination\s*│\s*1\s*│", out), out
    assert dst.get_run(foreign.info.run_id).info.lifecycle_stage == "active"
    assert dst.get_run(claims.info.run_id).info.lifecycle_stage == "deleted"
    dst.delete_run(foreign.info.run_id)

    # Exactly once: one copy per source run, each range's runs all there, and the copy deep-equal.
    exp = dst.get_experiment_by_name(BIG_NAME)
    copies = _copies(dst, exp.experiment_id)
    assert len(copies) == BIG and len({r.data.tags[TAG_SOURCE_RUN_ID] for r in copies}) == BIG
    per_range = Counter(sum(r.info.start_time >= cut for cut in cuts) for r in copies)
    assert per_range == {0: RANGE_RUNS, 1: RANGE_RUNS, 2: RANGE_RUNS, 3: RANGE_RUNS}
    assert sum(r.info.start_time == 0 for r in copies) == ZERO  # copies keep "no start time"
    src = MlflowClient(server.url)
    source_store = MlflowClient(server.backend_uri)  # the source's own store: no server between
    expected = snapshot(source_store, names, dest=False)
    assert snapshot(dst, names, dest=True) == expected

    # `mirror --once --engine ray`: its first cycle reads every run, so the units run on Ray again;
    # the one run new since is copied by one of them and counted in the cycle. A source run of the
    # big experiment's last range is deleted: its range finds it deleted (read by id), so the
    # driver's pass reads no run of the experiment and deletes the copy the range found, as the
    # local engine does (`mirror.delete`).
    run = src.create_run(small[0], start_time=T0 + 50, run_name="new")
    src.set_terminated(run.info.run_id, "FINISHED", end_time=T0 + 60)
    gone = src.search_runs([big], f"attributes.start_time = {T0 + RANGE_RUNS * 7 // 2}")
    gone = gone[0].info.run_id
    src.delete_run(gone)
    mirror = run_forked(
        "mirror", "--once", *args, "--log-level", "info", "--log-format", "json", env=env
    )
    assert mirror.returncode == 0, mirror.stderr
    (cycle,) = [line for line in mirror.stdout.splitlines() if line.startswith("mirror cycle: ")]
    assert cycle.startswith("mirror cycle: ok; copied 1, ") and ", deleted 1, " in cycle, cycle
    (settled,) = [json.loads(x) for x in mirror.stderr.splitlines() if '"units settled"' in x]
    assert (settled["experiments"], settled["ranged"], settled["extras"]) == (1, 1, 1), settled
    # the runs without a start time were found in the first range again, not copied twice
    copies = _copies(dst, exp.experiment_id)
    assert len(copies) == BIG and len({r.data.tags[TAG_SOURCE_RUN_ID] for r in copies}) == BIG
    assert [r.info.lifecycle_stage for r in copies if r.data.tags[TAG_SOURCE_RUN_ID] == gone] == [
        "deleted"
    ]
    # the source as the test left it, read once more only where it added a run: the deleted run
    # out of the big experiment (active runs are compared), the first small experiment read again
    del expected[BIG_NAME]["runs"][gone]
    expected[SMALL[0]] = snapshot(source_store, [SMALL[0]], dest=False)[SMALL[0]]
    assert snapshot(dst, names, dest=True) == expected


def _copies(dst: MlflowClient, experiment_id: str) -> list:
    """The destination runs of the experiment (deleted too) that copy a source run (a retired
    second copy aside)."""
    found = dst.search_runs([experiment_id], run_view_type=ViewType.ALL, max_results=BIG + 10)
    return [r for r in found if TAG_SOURCE_RUN_ID in r.data.tags and not retired(r.data.tags)]


def test_range_units_only_where_both_ends_read_runs_by_start_time(bulk_source, dest_server):
    """The units planned for the big experiment: start-time ranges towards a plain MLflow server;
    the whole experiment towards Azure ML, whose copies are not proven to keep their start time
    (`Capabilities.run_windows`, docs/DATABRICKS_AZUREML.md), so no range may be read there by one.
    The driver plans from the source alone (no Ray needed, the destination never asked)."""
    server, big, small = bulk_source
    settings = Settings(experiments=[f"{P}/ray/*"], scale_out={"range_runs": RANGE_RUNS})
    src = Endpoint(server.url, caps=resolve_caps(server.url))
    cuts = [T0 + RANGE_RUNS * i - ZERO for i in (1, 2, 3)]
    ranges = [(big, w) for w in zip([None, *cuts], [*cuts, None], strict=True)]
    whole = [(e, None) for e in small]
    for profile, expected in (("mlflow", ranges + whole), ("azureml", [(big, None), *whole])):
        dst = Endpoint(dest_server.url, caps=resolve_caps(dest_server.url, profile))
        units = ray_units.plan_units(settings, src, dst)
        assert [(u.experiment_id, u.window) for u in units] == expected, profile


HOLD = 1.0  # the Retry-After the budget is told of: long enough for three waiting tasks to ask


def _draw(identity: str, rate: float, n: int, meet: str) -> tuple[str, float, list[float]]:
    """In a Ray task: say it is ready (a file in the folder `meet`: the cluster's nodes are on this
    machine), wait until the driver says go, then take `n` tokens of class `other` from the
    endpoint's budget actor; its node, when it first asked and the wall-clock time of each token."""
    limiter = RateLimiter(RateLimits(other=rate))
    limiter.share(
        ray_budget.ActorBudget(
            ray.get_actor(ray_budget.actor_name(identity), namespace=ray_budget.NAMESPACE)
        ),
        identity,
    )
    folder = Path(meet)
    (folder / f"ready-{os.getpid()}").touch()
    while not (folder / "go").exists():
        time.sleep(0.005)
    asked, times = time.time(), []
    for _ in range(n):
        limiter.acquire("other")
        times.append(time.time())
    return ray.get_runtime_context().get_node_id(), asked, times


def test_one_budget_actor_bounds_tasks_on_every_node_and_a_retry_after_holds_them_all(
    ray_cluster, tmp_path
):
    """Three tasks of one CPU each, waiting together (so on both nodes: the head's one CPU and the
    worker node's two), are told to draw once the budget actor holds the class for a Retry-After:
    none is granted a token before it ends, and together they get them at the one bucket's rate."""
    cloudpickle.register_pickle_by_value(
        sys.modules[__name__]
    )  # the tasks are this module's functions
    ray.init(address=ray_cluster.address, namespace=ray_budget.NAMESPACE, log_to_driver=False)
    try:
        url, rate, each = "http://127.0.0.1:9", 20.0, 10
        end = Endpoint(url, caps=resolve_caps(url, "mlflow", {"other": rate}))
        actors = ray_budget.create(end)
        assert len(actors) == 1
        draw = ray.remote(num_cpus=1)(_draw)
        tasks = [draw.remote(end.identity, rate, each, str(tmp_path)) for _ in range(3)]
        while len(list(tmp_path.glob("ready-*"))) < 3:  # all three running at once
            time.sleep(0.05)
        hold_at = time.time()
        ray.get(actors[0].hold.remote(f"{end.identity}|other", HOLD))
        (tmp_path / "go").touch()
        drawn = ray.get(tasks)
    finally:
        ray.shutdown()
    assert len({node for node, _, _ in drawn}) == 2  # tasks on both nodes
    # Each task asked while the hold was on; nothing was granted before it ended, on any node.
    assert all(asked < hold_at + HOLD for _, asked, _ in drawn), (hold_at, drawn)
    granted = [t for _, _, times in drawn for t in times]
    assert min(granted) >= hold_at + HOLD - 0.05
    # 30 tokens from one bucket of 20/s (a burst of at most 15): the last not before
    # (30 - 15) / 20 s after the hold ended (three budgets of their own would hand out all 30 at
    # once).
    assert len(granted) == 3 * each
    assert max(granted) - (hold_at + HOLD) >= (3 * each - 15) / rate - 0.05


class RateLimitedFront(Rules):
    """A source's rate limits as a Databricks workspace answers them (tests/emulators/databricks.py,
    which cites the documented classes and limits): per class a bucket of `rate` per second in
    bursts of `rate`, HTTP 429 with Retry-After: 1 above it; every API request's arrival is
    recorded."""

    def __init__(self, rates: dict[str, float]) -> None:
        self.buckets = {cls: Bucket(rate) for cls, rate in rates.items()}
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)

    def check(self, req: Request, gateway: Gateway) -> Reply | None:
        if not req.path.startswith(("/api/", "/ajax-api/")):
            return None
        cls = rate_class(req.path.replace("/ajax-api/", "/api/", 1))
        gateway.count(f"class {cls}")
        self.arrivals[cls].append(time.monotonic())
        if self.buckets[cls].take() > 0:
            gateway.count(f"429 {cls}")
            return error(
                429, "REQUEST_LIMIT_EXCEEDED", f"Too many requests ({cls}).", **{"Retry-After": "1"}
            )
        return None


def test_three_workers_behind_a_429_front_stay_within_its_limits_together(
    ray_cluster, bulk_source, dest_server, postgres_server, pg_database, tmp_path
):
    server, _, _ = bulk_source
    rules = RateLimitedFront(FRONT_RATES)
    front = Gateway(server.url, [rules]).start()
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": front.url, "rate_limits": FRONT_RATES},
        destination={"tracking_uri": dest_server.url},
        experiments=[f"{P}/rl/*"],
        workers=2,
        prompts=[],
        copy_models=False,
    )
    env = cli_env(
        RAY_USAGE_STATS_ENABLED="0", MLFLOW_SYNCER_STATE=postgres_server.url(pg_database())
    )
    args = ["--config", str(config), "--engine", "ray", "--ray-address", ray_cluster.address]
    try:
        done = run_forked("migrate", *args, "--range-runs", "10", "--log-level", "warning", env=env)
    finally:
        front.stop()
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("ray: ")]
    # 36 runs and the 3 experiments (each made by its first range; the second sees it unchanged)
    assert (
        line
        == "ray: 6 units (6 start-time ranges), 6 done, 0 failed; created 39, updated 0, unchanged "
        "3, failed 0, conflicts 0; ranged experiments settled by their units: 3 of 3"
    ), done.stdout

    # The three workers and the driver together never went above the front's limits: it never
    # answered 429, and no second saw more requests of a class than its bucket lets through (rate +
    # a burst of rate).
    busiest = {cls: most_within(times, 1.0) for cls, times in rules.arrivals.items()}
    assert {k: n for k, n in front.counts.items() if k.startswith("429")} == {}, (
        front.counts,
        busiest,
    )
    assert {cls: n <= 2 * FRONT_RATES[cls] for cls, n in busiest.items()} == {
        c: True for c in busiest
    }, busiest
    assert busiest["other"] >= FRONT_RATES["other"], busiest  # the limit did hold the workers back
    src, dst = MlflowClient(server.backend_uri), MlflowClient(dest_server.url)
    assert snapshot(dst, list(LIMITED), dest=True) == snapshot(src, list(LIMITED), dest=False)


def test_objects_a_unit_failed_that_the_full_pass_copied_are_not_counted_failed() -> None:
    """A 2-node bench once ended `failed 2`, exit 1, with the destination complete: the full pass
    after the units had copied the 2 runs its units failed. The units' failures are weighed against
    that pass, which plans every object again and counts what still fails itself (no Ray needed:
    plain results)."""
    runs = [Action("run", Op.CREATE, f"r{i}", source_id=f"r{i}", experiment="7") for i in range(4)]
    unit = ray_units.UnitDone(
        ray_units.Unit("7", (None, 100)),
        created=2,
        updated=0,
        unchanged=0,
        failed=2,
        conflicts=0,
        pid=1,
        failed_keys=(("run", "r2"), ("run", "r3")),
    )
    totals = ray_units.RayTotals(
        units=3,
        ranges=2,
        done=[unit],
        failed_units=[("experiment:7[100,)", "worker died"), ("experiment:8", "why")],
    )
    # The full pass: r2's write had applied (`=`), r3 created now; experiment 8 still has a run
    # failing.
    bad = Action("run", Op.CREATE, "x", source_id="x", experiment="8")
    full = SyncResult(
        plan=Plan(actions=[replace(runs[2], op=Op.SAME), runs[3], bad], dest_names={}),
        outcomes=[Outcome(runs[3], ok=True), Outcome(bad, ok=False, error="500")],
    )
    cli_units = RayUnits(Settings(), None, progress=False)
    cli_units.totals = totals
    cli_units.settle(full)
    assert cli_units.lines() == [
        "ray: 3 units (2 start-time ranges), 1 done, 2 failed; created 2, updated 0, unchanged 0, "
        "failed 2, "
        "conflicts 0; the full pass then found or made 2 of those 2 in sync",
        "! experiment:7[100,): worker died (its experiment in sync after the full pass)",
        "! experiment:8: why (still failing in the full pass)",
    ]
    assert cli_units.failed == 1  # experiment 8's unit; its failing run is the full pass's to count


def test_a_range_settles_its_runs_only_when_sure_of_its_destination_only_runs() -> None:
    """A range unit's destination-only runs go to the full pass only when every range of the
    experiment ended clean and each names no source run or one the range read; a copy whose source
    run the range did not read (a start time changed in the destination, a source run gone) makes
    the full pass read the experiment again (plain results: no Ray needed)."""

    def extra(dest: str, sid: str | None, reason: str) -> Action:
        details = {"reason": reason}
        return Action("run", Op.EXTRA, f"big/{dest}", source_id=sid, dest_id=dest, details=details)

    def done(lo, hi, *actions: Action, failed: bool = False, gone=()) -> ray_units.UnitDone:
        unit = ray_units.Unit("7", (lo, hi))
        plan = Plan(actions=[Action("run", Op.SAME, "r", source_id="r"), *actions], dest_names={})
        plan.extra_groups.update({a.dest_id: "big" for a in actions})
        bad = [Outcome(Action("run", Op.CREATE, "x", source_id="x"), ok=False, error="500")]
        result = SyncResult(plan, outcomes=bad if failed else [])
        findings = ray_units.range_findings(unit, result, gone)
        settled, extras, deleted = findings
        return ray_units.UnitDone(
            unit, 0, 0, 1, 0, 0, 1, settled=settled, extras=extras, deleted_sources=deleted
        )

    foreign = extra("d1", None, "not created by mlflow-syncer")
    deleted = extra("d2", "s2", "deleted in the source")
    other_range = extra("d3", "s3", "no longer in the source")
    units = [ray_units.Unit("7", (None, 10)), ray_units.Unit("7", (10, None)), ray_units.Unit("8")]
    clean = [done(None, 10, foreign), done(10, None, deleted)]
    totals = ray_units.RayTotals(units=3, ranges=2, done=clean, planned=units)
    assert totals.settled_options() == {
        "settled_runs": frozenset({"7"}),
        "settled_extras": (
            ExtraCandidate("d1", "big/d1", "big", None),
            ExtraCandidate("d2", "big/d2", "big", "s2"),
        ),
        "settled_deleted": frozenset({"s2"}),
    }
    for unsure in (
        done(10, None, other_range),
        done(10, None, failed=True),
        done(10, None, replace(foreign, op=Op.CONFLICT)),
    ):
        totals = ray_units.RayTotals(units=3, ranges=2, done=[clean[0], unsure], planned=units)
        assert totals.settled_options()["settled_runs"] == frozenset(), unsure
    # a source run the range did not read but found deleted in the experiment (read by id): sure,
    # and the driver plans its copy `no longer in the source` (not among the deleted it read)
    found_deleted = done(10, None, other_range, gone={"s3"})
    totals = ray_units.RayTotals(units=3, ranges=2, done=[clean[0], found_deleted], planned=units)
    options = totals.settled_options()
    assert (options["settled_runs"], options["settled_deleted"]) == ({"7"}, frozenset())
    assert [c.source_id for c in options["settled_extras"]] == [None, "s3"]
    # a range whose task failed (after Ray's retries): not settled either
    totals = ray_units.RayTotals(units=3, ranges=2, done=clean[:1], planned=units)
    assert totals.settled_options() == {
        "settled_runs": frozenset(),
        "settled_extras": (),
        "settled_deleted": frozenset(),
    }


def test_a_copy_naming_a_run_of_a_settled_experiment_is_no_destination_only_run() -> None:
    """The driver's pass does not read the runs of the experiments the units settled: a copy
    elsewhere naming one of those runs is looked up by id there (as read: never `no longer in the
    source`); one naming a deleted run (`deleted: skip`: no pass reads it) or no run found is
    destination-only, as on one machine (plain data: the look-up's answer given)."""
    facts = RunFacts()
    facts.extras = [ExtraCandidate(f"d{i}", f"b/d{i}", "b", f"s{i}") for i in (1, 2, 3)]
    asked = []

    def fetch(experiments: list[str], ids: set[str]) -> list[RunSnap]:
        asked.append((experiments, sorted(ids)))
        stage = {"s1": "active", "s2": "deleted"}
        return [RunSnap(i, "7", i, "FINISHED", 1, 2, stage[i], "") for i in ids if i in stage]

    facts.look_up_settled(PassOptions(settled_runs=frozenset({"7"}), deleted="skip"), fetch)
    actions = plan_extra_runs(facts.extras, True, facts.source_state)
    assert asked == [(["7"], ["s1", "s2", "s3"])]
    assert [(a.dest_id, a.op, a.details["reason"]) for a in actions] == [
        ("d2", Op.DELETE, "no longer in the source"),
        ("d3", Op.DELETE, "no longer in the source"),
    ]


def test_diff_on_ray_writes_the_local_engines_report(
    ray_cluster, bulk_source, dest_server, tmp_path
):
    """`diff --deep --engine ray`: the chunks' per-run reads run as Ray tasks
    (syncer.engine.ray_inspect); the JSON report is the local engine's, byte for byte, with a run to
    create, one to update and one that looks in sync but holds a point more (found by --deep)."""
    server, _, _ = bulk_source
    src, dst = MlflowClient(server.url), MlflowClient(dest_server.url)
    name = f"{P}/diff/a"
    _seed(src, server.root, name, 6)
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": server.url},
        destination={"tracking_uri": dest_server.url},
        experiments=[f"{P}/diff/*"],
        prompts=[],
        copy_models=False,
    )
    env = cli_env(RAY_USAGE_STATS_ENABLED="0", MLFLOW_SYNCER_STATE=f"sqlite:///{tmp_path / 's.db'}")
    base = ["--config", str(config), "--log-level", "warning"]
    done = run_forked("migrate", *base, "--no-progress", env=env)
    assert done.returncode == 0, done.stderr
    exp = src.get_experiment_by_name(name).experiment_id
    src.set_terminated(
        src.create_run(exp, start_time=T0 + 99, run_name="new").info.run_id, "FINISHED"
    )
    copies = {
        r.info.run_name: r.info.run_id
        for r in dst.search_runs([dst.get_experiment_by_name(name).experiment_id])
    }
    dst.delete_tag(copies[f"{name}-0"], "mlflow_syncer.fingerprint")  # planned `*`
    dst.log_metric(copies[f"{name}-1"], "m", 7.0, timestamp=T0, step=-1)  # `=`, but --deep finds it
    reports = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.json"
        run = run_forked(
            "diff",
            *base,
            *("--deep", "--format", "json", "--output", str(out), "--engine", engine),
            *("--ray-address", ray_cluster.address, "--log-level", "info", "--log-format", "json"),
            env=env,
        )
        assert run.returncode == 1, run.stderr  # differences
        ray_lines = [
            json.loads(x) for x in run.stderr.splitlines() if "chunks inspected on ray" in x
        ]
        assert [x["chunks"] for x in ray_lines] == ([1] if engine == "ray" else []), (
            run.stderr
        )  # diff/a
        reports[engine] = out.read_text()
    assert reports["ray"] == reports["local"]
    rows = json.loads(reports["ray"])["objects"]
    assert Counter(r["op"] for r in rows if r["kind"] == "run") == {
        "same": 4,
        "create": 1,
        "update": 1,
        "differs": 1,
    }
