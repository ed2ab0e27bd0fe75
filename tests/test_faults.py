"""A full migration through fault-injecting proxies in front of both real servers converges
exactly."""

from __future__ import annotations

import time

from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.compare import assert_same
from tests.fixtures.cli import cli_env, fork_with, run_forked
from tests.fixtures.faultproxy import RANDOM_KINDS, FaultConfig, Rule
from tests.fixtures.workload import make_workload

# A call gives up after two attempts, MLflow's own HTTP layer tries once: the bound on a dead end's
# failure, set low (the same knobs as tests/test_mistakes.py, so the same fork server).
FAST_FAIL = {"MLFLOW_SYNCER_RETRY_ATTEMPTS": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
fork_with(**FAST_FAIL)
# Retries are what the faults exercise, not how long they wait: MLflow's HTTP layer retries at once
# (its factor is a whole number: 1 waits 2 s, then 4), ours waits at most 0.2 s between attempts,
# and the proxy's 429s ask for no wait (Retry-After: 0; tests/test_retry_after.py has the waits).
SHORT_WAITS = {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_SYNCER_RETRY_MAX_WAIT": "0.2"}
fork_with(**SHORT_WAITS)

# Writes applied by the server whose answer is then lost: the hard cases, pinned so they surely
# happen.
HARD_CASES = [
    Rule("/experiments/create", "reset_after"),
    Rule("/runs/create", "reset_after", times=2),
    Rule("/runs/create", "500_after"),
    Rule("/runs/log-batch", "reset_after", times=2),
    Rule("/runs/log-batch", "500_after"),
    Rule("/runs/log-inputs", "reset_after"),
    Rule("/mlflow-artifacts/artifacts/", "reset_after", times=2, method="PUT"),
    Rule("/runs/set-tag", "500_after"),
    Rule("/runs/update", "reset_after"),
    # and one of each plain fault, so that every kind surely occurs whatever the random draw
    Rule("/runs/log-batch", "429"),
    Rule("/runs/create", "503"),
    Rule("/runs/set-tag", "500"),
    Rule("/runs/log-inputs", "reset"),
    Rule("/runs/search", "slow"),
]
# Answers cut in the middle: artifact downloads, a search page, a metric history page.
SOURCE_HARD_CASES = [
    Rule("/mlflow-artifacts/artifacts/", "truncate", times=3, method="GET"),
    Rule("/runs/search", "truncate"),
    Rule("/metrics/get-history", "truncate", times=2),
]


def test_migration_through_faults_is_exact(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name)
    src_proxy = fault_proxy(
        source_server.url,
        FaultConfig(rate=0.15, seed=7, rules=SOURCE_HARD_CASES, retry_after="0"),
    )
    dst_proxy = fault_proxy(
        dest_server.url, FaultConfig(rate=0.15, seed=11, rules=HARD_CASES, retry_after="0")
    )

    result = run_forked(
        "migrate",
        "--source",
        src_proxy.url,
        "--dest",
        dst_proxy.url,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        f"{unique_name}/*",
        "--no-progress",
        "--log-format",
        "json",
        env=cli_env(**SHORT_WAITS, MLFLOW_HTTP_REQUEST_BACKOFF_JITTER="0"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr

    assert_same(src, dst, w.experiments)
    live = dst.search_runs(
        [dst.get_experiment_by_name(n).experiment_id for n in w.experiments],
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    assert len(live) == len(w.runs)
    total = src_proxy.requests + dst_proxy.requests
    pinned = sum(r.times for r in HARD_CASES + SOURCE_HARD_CASES)
    random_faults = src_proxy.total_faults + dst_proxy.total_faults - pinned
    assert 0.08 <= random_faults / total <= 0.25, (random_faults, total)
    seen = src_proxy.faults + dst_proxy.faults
    assert all(seen[k] > 0 for k in RANDOM_KINDS), seen
    print(f"faults injected: {dict(seen)} in {total} requests")


def test_destination_dying_mid_copy_fails_in_bounded_time_then_rerun_converges(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    """A dead destination ends the migration with exit 2 in bounded time: each call gives up after
    `RetryPolicy.attempts` (set to 2 here, and MLflow's own retries off: with the defaults it takes
    about a minute) or `max_delay`; no wall-clock assertion, a hang is caught by the suite's
    per-test timeout."""
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    proxy = fault_proxy(dest_server.url, FaultConfig(dead_after=20))
    args = [
        "migrate",
        "--source",
        source_server.url,
        "--dest",
        proxy.url,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        f"{unique_name}/*",
        "--no-progress",
    ]
    started = time.monotonic()
    died = run_forked(*args, env=cli_env(**FAST_FAIL))
    elapsed = time.monotonic() - started
    assert died.returncode == 2, died.stdout + died.stderr
    assert "Traceback" not in died.stderr
    assert "the destination" in died.stderr and "is unreachable: connection reset" in died.stderr, (
        died.stderr
    )
    print(f"dead destination detected after {elapsed:.0f} s (process start to exit)")

    proxy.configure(FaultConfig())
    healed = run_forked(*args)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert_same(src, dst, w.experiments)
