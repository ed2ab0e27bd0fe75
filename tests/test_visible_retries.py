"""Retries are visible: every retry is logged (JSON and console), and a call that runs out of
retries says how many attempts it made, over how long, and the last status it saw. Real servers
behind the fault proxy."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, fork_with, run_forked
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.workload import make_workload

# MLflow's own HTTP retries off: each of our attempts is one request, so the proxy's counts are our
# attempts; ours wait at most 0.2 s between them. Forked from a process imported with these knobs.
FAST = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_SYNCER_RETRY_ATTEMPTS": "3",
    "MLFLOW_SYNCER_RETRY_MAX_WAIT": "0.2",
}
fork_with(**FAST)


def _migrate(source: str, dest: str, name: str, tmp_path, *flags: str, env: dict | None = None):
    return run_forked(
        "migrate",
        "--source",
        source,
        "--dest",
        dest,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        f"{name}/*",
        "--no-progress",
        "--workers",
        "1",
        *flags,
        env=cli_env(**(env or {})),
    )


def test_retries_are_logged_as_json_and_for_the_console(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    make_workload(MlflowClient(source_server.url), unique_name, runs_per_experiment=1)
    proxy = fault_proxy(dest_server.url, FaultConfig(rules=[Rule("/runs/create", "503", times=2)]))
    done = _migrate(
        source_server.url,
        proxy.url,
        unique_name,
        tmp_path,
        "--log-format",
        "json",
        "--log-level",
        "debug",
        env=FAST,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    retries = [e for e in events if e.get("event") == "retrying"]
    assert [(e["op"], e["attempt"], e["of"]) for e in retries] == [
        ("create_run", 1, 3),
        ("create_run", 2, 3),
    ]
    assert all(
        e["endpoint"] == f"destination ({proxy.url})"
        and e["error"] == "MlflowException"
        and "503" in e["status"]
        and e["wait_s"] > 0
        and e["level"] == "debug"
        for e in retries
    ), retries

    proxy.configure(FaultConfig(rules=[Rule("/runs/create", "503", times=1)]))
    second = make_workload(
        MlflowClient(source_server.url), f"{unique_name}-c", runs_per_experiment=1
    )
    console = _migrate(
        source_server.url,
        proxy.url,
        f"{unique_name}-c",
        tmp_path,
        "--log-format",
        "console",
        "--log-level",
        "debug",
        env=FAST,
    )
    assert console.returncode == 0, console.stderr[-3000:]
    lines = [line for line in console.stderr.splitlines() if "retrying" in line]
    assert len(lines) == 1 and "op=create_run" in lines[0] and "attempt=1" in lines[0], (
        console.stderr[-3000:]
    )
    assert second.experiments


def test_a_call_out_of_retries_says_attempts_duration_and_last_status(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    w = make_workload(MlflowClient(source_server.url), unique_name, runs_per_experiment=1)
    # A run's status (set_terminated: POST /runs/update) is written once per run; with one worker
    # the first three such requests are the three attempts of the first run's call.
    proxy = fault_proxy(dest_server.url, FaultConfig(rules=[Rule("/runs/update", "503", times=3)]))
    partial = _migrate(source_server.url, proxy.url, unique_name, tmp_path, env=FAST)
    assert partial.returncode == 1, partial.stdout + partial.stderr[-3000:]
    failed = [line for line in partial.stdout.splitlines() if "gave up on" in line]
    assert len(failed) == 1, partial.stdout
    assert "gave up on set_terminated after 3 attempts over " in failed[0]
    assert "last status: too many 503 error responses" in failed[0], failed[0]
    proxy.configure(FaultConfig())
    again = _migrate(source_server.url, proxy.url, unique_name, tmp_path, env=FAST)
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert len(w.runs) > 1
