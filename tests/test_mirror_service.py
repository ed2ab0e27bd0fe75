"""The mirror daemon as a real subprocess: status endpoint, sd_notify, lock, SIGTERM and SIGKILL."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.compare import assert_same
from tests.fixtures.cli import cli_env, fork_with, kill_at, run_forked
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.mirror import make_runs, start_daemon, write_config
from tests.fixtures.procs import free_port

SHUTDOWN_TIMEOUT = 10.0
# A dead end fails its call after two attempts, MLflow's own HTTP layer trying once (the same knobs
# as tests/test_mistakes.py: the same fork server).
FAST_FAIL = {"MLFLOW_SYNCER_RETRY_ATTEMPTS": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
fork_with(**FAST_FAIL)


def _once(config: Path, env: dict[str, str] | None = None):
    """`mlflow-syncer mirror --once` to its end, forked (the services below are started anew)."""
    return run_forked("mirror", "--config", str(config), "--once", env=env)


def _complete_copies(dst: MlflowClient, name: str) -> tuple[int, int]:
    """(runs in the destination experiment, runs carrying the final fingerprint marker)."""
    exp = dst.get_experiment_by_name(name)
    if exp is None:
        return 0, 0
    runs = dst.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000)
    return len(runs), sum("mlflow_syncer.fingerprint" in r.data.tags for r in runs)


def _lock_rows(state) -> int:
    with sqlite3.connect(state) as db:
        return db.execute("select count(*) from locks").fetchone()[0]


def test_daemon_serves_status_notifies_systemd_and_stops_on_sigterm(
    source_server, dest_server, unique_name, tmp_path, notify_listener
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/svc"
    make_runs(src, name, 3, artifact=False)
    state = tmp_path / "state.db"
    config = write_config(
        tmp_path / "mirror.yaml",
        source_server.url,
        dest_server.url,
        [name],
        state,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    env = {"NOTIFY_SOCKET": notify_listener.path, "WATCHDOG_USEC": "2000000"}
    daemon = start_daemon(config, tmp_path, "--interval", "1h", env=env)
    try:
        notify_listener.wait_for("READY=1")
        ready = daemon.wait_ready()
        assert ready["ready"] is True and ready["last_cycle_ok"] is True
        assert daemon.get("/healthz")[0] == 200
        code, body = daemon.get("/metrics")
        text = body.decode()
        assert code == 200
        for line in (
            'mlflow_syncer_cycles_total{result="ok"} 1.0',
            'mlflow_syncer_objects_total{kind="run",op="create",result="ok"} 3.0',
            'mlflow_syncer_objects_total{kind="experiment",op="create",result="ok"} 1.0',
            # one page to plan; the first chunk's runs are kept for applying it (held_runs)
            'mlflow_syncer_api_calls_total{endpoint="source",op="search_runs"} 1.0',
            'mlflow_syncer_api_calls_total{endpoint="destination",op="create_run"} 3.0',
            "mlflow_syncer_cycle_seconds_count 1.0",
            "mlflow_syncer_replication_lag_seconds 0.0",
            "mlflow_syncer_last_cycle_ok 1.0",
        ):
            assert line in text, line
        assert daemon.get("/nowhere")[0] == 404
        notify_listener.wait_for("WATCHDOG=1")
        assert_same(src, dst, [name])

        second = _once(config)  # one mirror per state store
        assert second.returncode == 2
        assert "another mlflow-syncer" in second.stderr and "Traceback" not in second.stderr
        assert _lock_rows(state) == 1

        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=SHUTDOWN_TIMEOUT + 5) == 0
        notify_listener.wait_for("STOPPING=1", timeout=5)
        assert _lock_rows(state) == 0
        assert '"stopped cleanly"' in daemon.log.read_text()
    finally:
        daemon.stop()


# The signal lands mid-cycle at an exact point (tests/killhook): the third run's copy just created,
# two copies complete before it (one worker), three runs still to copy.
TOTAL, MID_CYCLE = 6, "create_run:3:after"


def _interrupted_then_resumed(
    source_server, dest_server, unique_name, tmp_path, signum: int
) -> str:
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/big"
    make_runs(src, name, TOTAL)
    config = write_config(
        tmp_path / "mirror.yaml",
        source_server.url,
        dest_server.url,
        [name],
        tmp_path / "state.db",
        workers=1,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    env = {**kill_at(MID_CYCLE), "MLFLOW_SYNCER_TEST_KILL_SIGNAL": signal.Signals(signum).name}
    daemon = start_daemon(config, tmp_path, "--interval", "1h", http=False, env=env)
    try:
        rc = daemon.proc.wait(timeout=300)  # a guard: the signal comes from the daemon itself
        log = daemon.log.read_text()
    finally:
        daemon.stop()
    created, complete = _complete_copies(dst, name)
    assert 0 < complete < TOTAL, f"not mid-cycle: {complete} of {TOTAL} copies complete"
    again = _once(config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same(src, dst, [name])  # also asserts one copy per source run
    assert _complete_copies(dst, name) == (TOTAL, TOTAL)
    cycle = json.loads([x for x in again.stderr.splitlines() if '"cycle ended"' in x][-1])
    assert cycle["copied"] == TOTAL - complete
    return f"{rc}\n{log}"


def test_sigterm_mid_cycle_stops_within_the_bound_and_the_next_start_resumes(
    source_server, dest_server, unique_name, tmp_path
):
    out = _interrupted_then_resumed(
        source_server, dest_server, unique_name, tmp_path, signal.SIGTERM
    )
    rc, log = out.split("\n", 1)
    assert rc == "0", log[-3000:]
    assert '"stopped cleanly"' in log  # the unit in flight stopped within shutdown_timeout
    assert '"object failed"' not in log  # abandoned units are not counted as failures


def test_sigkill_mid_cycle_then_restart_converges_without_duplicates(
    source_server, dest_server, unique_name, tmp_path
):
    rc, _log = _interrupted_then_resumed(
        source_server, dest_server, unique_name, tmp_path, signal.SIGKILL
    ).split("\n", 1)
    assert rc == str(-signal.SIGKILL)


def test_a_failing_cycle_keeps_the_daemon_alive_and_not_ready(dest_server, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = write_config(
        tmp_path / "mirror.yaml",
        dead,
        dest_server.url,
        ["*"],
        tmp_path / "state.db",
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    once = _once(config, env=cli_env(**FAST_FAIL))
    assert once.returncode == 2
    assert (
        f"mlflow-syncer: error: the source ({dead}) is unreachable: connection refused"
        in once.stderr
    )
    assert "Traceback" not in once.stderr

    daemon = start_daemon(config, tmp_path, "--interval", "2s", env=FAST_FAIL)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert time.monotonic() < deadline, daemon.log.read_text()[-3000:]
            try:
                code, body = daemon.get("/readyz")
            except OSError:
                time.sleep(0.3)
                continue
            if b"is unreachable" in body:
                break
            time.sleep(0.3)
        assert code == 503 and json.loads(body)["ready"] is False
        assert daemon.get("/healthz")[0] == 200
        assert 'mlflow_syncer_cycles_total{result="error"}' in daemon.get("/metrics")[1].decode()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=SHUTDOWN_TIMEOUT + 5) == 0
    finally:
        daemon.stop()


def test_cycles_never_overlap_when_a_cycle_outlasts_the_interval(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    name = f"{unique_name}/overlap"
    make_runs(MlflowClient(source_server.url), name, 3)
    # The proxy holds the first run create 2 s: the first cycle outlasts the 0.5 s interval whatever
    # the load.
    proxy = fault_proxy(
        dest_server.url, FaultConfig(rules=[Rule("/runs/create", "slow")], slow_seconds=2.0)
    )
    config = write_config(
        tmp_path / "mirror.yaml",
        source_server.url,
        proxy.url,
        [name],
        tmp_path / "state.db",
        workers=1,
    )
    daemon = start_daemon(config, tmp_path, "--interval", "0.5s", http=False)
    try:
        deadline = time.monotonic() + 300
        while len(_cycle_rows(tmp_path / "state.db", ended=True)) < 3:
            assert daemon.proc.poll() is None and time.monotonic() < deadline, (
                daemon.log.read_text()[-3000:]
            )
            time.sleep(0.2)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=SHUTDOWN_TIMEOUT + 25) == 0
    finally:
        daemon.stop()
    rows = _cycle_rows(tmp_path / "state.db")
    assert (
        proxy.faults["slow"] == 1 and rows[0][2] == 4
    )  # the slow cycle copied the experiment and 3 runs
    assert all(copied == 0 for _, _, copied in rows[1:]), rows
    # Recorded in the order they ran: each cycle began after the one before had ended (no stacked
    # tick).
    for before, after in zip(rows, rows[1:], strict=False):
        assert before[1] is not None and after[0] >= before[1], rows
    assert "maximum number of running instances" not in daemon.log.read_text()


def _cycle_rows(state: Path, ended: bool = False) -> list[tuple[float, float | None, int]]:
    """(started, ended, copied) of the cycles the state store recorded, in the order they began."""
    if not state.exists():
        return []
    with contextlib.closing(sqlite3.connect(state)) as db:
        try:
            rows = db.execute("SELECT started, ended, copied FROM cycles ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # the table is not made yet
            return []
    return [r for r in rows if r[1] is not None] if ended else rows
