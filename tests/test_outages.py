"""Outages under a running `mirror` service, and one object a source cannot send (issues 21.2, 28.2,
28.7).

Real processes only: the session's MLflow servers and PostgreSQL, the service as a subprocess,
loopback gates (tests/fixtures/tcpgate.py) and the fault proxy in front of them. The retry knobs are
set low so that an outage of 4.5 s outlasts every retry (docs/RELIABILITY.md has the figures of real
3-minute outages).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlflow import MlflowClient

from tests.compare import assert_same
from tests.fixtures.cli import cli_env, fork_with, run_forked
from tests.fixtures.faultproxy import FaultConfig, Rule
from tests.fixtures.mirror import Daemon, make_runs, start_daemon
from tests.fixtures.outages import copied, cycles, log_lines, log_run, metric, mirror_config, wait
from tests.fixtures.tcpgate import Gate, gates

KNOBS = {
    "MLFLOW_SYNCER_RETRY_ATTEMPTS": "2",
    "MLFLOW_SYNCER_RETRY_MAX_WAIT": "0.5",
    "MLFLOW_SYNCER_RETRY_MAX_DELAY": "2",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
    "MLFLOW_SYNCER_STATE_CONNECT_TIMEOUT": "2",
    "MLFLOW_SYNCER_STATE_STATEMENT_TIMEOUT": "5",
    "MLFLOW_SYNCER_STATUS_TIMEOUT": "4",
}
fork_with(**KNOBS)  # `status` and `migrate` with these knobs are forked, not started anew
# seconds each outage lasts at least: more than a call's whole retry budget with KNOBS (a hanging
# attempt stops retrying after MAX_DELAY, its probe waits one request timeout more: 2 + 2 s)
HOLD = 4.5
OUTAGES = [
    ("destination", "refuse"),
    ("destination", "hang"),
    ("source", "refuse"),
    ("source", "hang"),
    ("state store", "refuse"),
    ("state store", "hang"),
]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Scene:
    """The service under test and what it mirrors."""

    daemon: Daemon
    config: Path
    env: dict
    src: MlflowClient
    dst: MlflowClient
    exp_id: str
    exp_name: str
    notified: list[str]

    def status(self) -> tuple[int, str, str, float]:
        """`mlflow-syncer status` of the service's state store (forked, with KNOBS): exit code,
        stdout, stderr, seconds."""
        started = time.monotonic()
        env = cli_env(**KNOBS, OUTAGE_PG_PASSWORD=self.env["OUTAGE_PG_PASSWORD"])
        out = run_forked("status", "--config", str(self.config), env=env)
        return out.returncode, out.stdout, out.stderr, time.monotonic() - started


def _during(scene: Scene, gate: Gate, end: str, mode: str) -> str:
    """Shut `gate`, log a run on the source, hold the outage until it outlasted the retry budget and
    the service told the truth about it; returns the run's id."""
    daemon = scene.daemon
    errors = cycles(daemon, "error")
    began = time.monotonic()
    offset = daemon.log.stat().st_size
    gate.set(mode)
    rid = log_run(scene.src, scene.exp_id, f"during-{end}-{mode}".replace(" ", "-"))
    if mode == "refuse" or end != "state store":  # the cycles fail and start again
        wait(
            lambda: cycles(daemon, "error") >= errors + 2,
            f"two failed cycles ({end} {mode})",
            daemon,
        )
    if mode == "hang":
        wait(
            lambda: _waits_on(daemon, offset, end),
            f"a 'cycle waiting' line on the {end}",
            daemon,
        )
    wait(lambda: daemon.get("/readyz")[0] == 503, "/readyz 503", daemon)
    wait(lambda: metric(daemon, "mlflow_syncer_replication_lag_seconds") > 0, "lag > 0", daemon)
    pending = metric(daemon, "mlflow_syncer_pending_objects")
    assert math.isnan(pending) or pending > 0, pending
    if (end, mode) == ("state store", "hang"):
        code, _out, err, seconds = scene.status()
        assert code == 2 and err.startswith("mlflow-syncer: error: ") and err.count("\n") == 1, err
        print(f"status while PostgreSQL hangs: exit {code} after {seconds:.1f} s: {err.strip()}")
        wait(
            lambda: any(x.startswith("STATUS=stalled") for x in scene.notified),
            "the watchdog withheld (STATUS=stalled)",
            daemon,
        )
    if (end, mode) == ("destination", "hang"):
        wait(
            lambda: _status_while_waiting(scene, end),
            "status naming the destination it waits on",
            daemon,
            timeout=60,
        )
    wait(lambda: time.monotonic() - began >= HOLD, "the outage outlasting the retries", daemon)
    return rid


def _waits_on(daemon, offset: int, end: str) -> bool:
    """Has the service logged, after `offset`, a `cycle waiting` line on `end`?"""
    return any(
        x.get("event") == "cycle waiting" and x.get("on", "").startswith(f"the {end} (")
        for x in log_lines(daemon, offset)
    )


def _status_while_waiting(scene: Scene, end: str) -> bool:
    """Does `status`, run as soon as the service logs a new `cycle waiting` line on `end` (its note
    for `status` is written then, and lasts until that cycle ends), name what the cycle waits on?"""
    daemon, offset = scene.daemon, scene.daemon.log.stat().st_size
    wait(
        lambda: _waits_on(daemon, offset, end),
        f"a new 'cycle waiting' line on the {end}",
        daemon,
    )
    return f"waiting       on the {end} (" in scene.status()[1]


def _copying_end(line: dict) -> bool:
    return line.get("event") == "cycle ended" and line.get("copied", 0) >= 1


def _outage(scene: Scene, gate: Gate, end: str, mode: str) -> float:
    """One outage with a run logged during it; returns seconds from the return to the copy."""
    daemon = scene.daemon
    daemon.wait_ready()
    rid = _during(scene, gate, end, mode)
    offset = daemon.log.stat().st_size
    back = time.monotonic()
    gate.set("open")
    wait(
        lambda: copied(scene.dst, scene.exp_name, rid),
        f"the run logged during the {end} {mode} copied",
        daemon,
    )
    copied_after = time.monotonic() - back
    wait(lambda: daemon.get("/readyz")[0] == 200, "/readyz 200 again", daemon)
    # the run can be seen in the destination before the cycle that copied it logs its end
    wait(
        lambda: any(_copying_end(x) for x in log_lines(daemon, offset)),
        f"the cycle that copied the run logged during the {end} {mode} ended",
        daemon,
    )
    ended = [x for x in log_lines(daemon, offset) if x.get("event") == "cycle ended"]
    first_copy = next(i for i, x in enumerate(ended) if _copying_end(x))
    # the cycle in flight at the return (it may have read the source before the run was logged),
    # then the next
    assert first_copy <= 1, [(x["started"], x["copied"], x.get("error")) for x in ended]
    return copied_after


def test_mirror_outlives_outages_of_each_end_and_of_its_state_store(
    source_server, dest_server, postgres_server, pg_database, unique_name, tmp_path, notify_listener
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/outages"
    make_runs(src, name, 2, points=5, artifact=False)
    with gates() as gate:
        ends = {
            "source": gate(*_host_port(source_server.url)),
            "destination": gate(*_host_port(dest_server.url)),
            "state store": gate("127.0.0.1", postgres_server.port),
        }
        state_url = postgres_server.url(pg_database(), password="${OUTAGE_PG_PASSWORD}").replace(
            f":{postgres_server.port}/", f":{ends['state store'].port}/"
        )
        config = mirror_config(
            tmp_path,
            f"http://{ends['source'].address}",
            f"http://{ends['destination'].address}",
            name,
            state_url,
        )
        env = {
            **KNOBS,
            "OUTAGE_PG_PASSWORD": postgres_server.password,
            "NOTIFY_SOCKET": notify_listener.path,
            "WATCHDOG_USEC": "2000000",
            "MLFLOW_SYNCER_STALL_SECONDS": "6",
        }
        daemon = start_daemon(config, tmp_path, "--interval", "1s", env=env)
        exp_id = src.get_experiment_by_name(name).experiment_id
        scene = Scene(daemon, config, env, src, dst, exp_id, name, notify_listener.seen)
        try:
            figures = {
                f"{end} {mode}": _outage(scene, ends[end], end, mode) for end, mode in OUTAGES
            }
            daemon.wait_ready()
        finally:
            daemon.stop()
    print("seconds from the return to the copy:", {k: round(v, 1) for k, v in figures.items()})
    assert len(dst.search_runs([dst.get_experiment_by_name(name).experiment_id])) == 2 + len(
        OUTAGES
    )
    assert_same(src, dst, [name])
    lines = log_lines(daemon)
    assert "\\n\\t" not in daemon.log.read_text()  # database errors are one readable line
    ended = [x for x in lines if x.get("event") == "cycle ended"]
    assert ended and all(ISO.match(x["started"]) and ISO.match(x["ended"]) for x in ended)
    waited = {x["on"].split(" (")[0] for x in lines if x.get("event") == "cycle waiting"}
    assert {"the source", "the destination", "the state store"} <= waited, waited
    _assert_watchdog_withheld_while_wedged(notify_listener.seen)


def _assert_watchdog_withheld_while_wedged(seen: list[str]) -> None:
    """Only the PostgreSQL hang wedges the loop (a statement no client timeout can end): the
    watchdog is fed before it, not while it lasts, and again once the cycle moves."""
    stalls = [i for i, x in enumerate(seen) if x.startswith("STATUS=stalled")]
    assert len(stalls) == 1 and "waiting on the state store (" in seen[stalls[0]], seen
    moving = seen.index("STATUS=the cycle moves again", stalls[0])
    assert "WATCHDOG=1" in seen[: stalls[0]] and "WATCHDOG=1" not in seen[stalls[0] : moving]
    assert "WATCHDOG=1" in seen[moving:]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def test_one_file_the_source_cannot_send_fails_only_its_run(
    source_server, dest_server, fault_proxy, unique_name, tmp_path
):
    """The source answers everything but one file (an MLflow 2.x server and a Japanese file name):
    that run fails, named; every other run is copied; exit 1; the rerun once the file is readable
    completes it."""
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/one-bad-file"
    ids = make_runs(src, name, 4, points=5)
    bad = tmp_path / "unsendable.txt"
    bad.write_text("the proxy resets every download of this file")
    src.log_artifact(ids[2], str(bad))
    proxy = fault_proxy(
        source_server.url, FaultConfig(rules=[Rule("unsendable.txt", "reset", 10**6, "GET")])
    )
    args = [
        "--source",
        proxy.url,
        "--dest",
        dest_server.url,
        "--experiments",
        name,
        "--no-progress",
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
    ]
    env = cli_env(**KNOBS)

    first = run_forked("migrate", *args, env=env)
    assert first.returncode == 1, first.stdout[-2000:] + first.stderr[-3000:]
    assert "Traceback" not in first.stderr and "is unreachable" not in first.stderr
    failed = [x for x in first.stderr.splitlines() if "object failed" in x]
    assert len(failed) == 1 and "run-2" in failed[0] and "connection reset" in failed[0], (
        first.stderr[-3000:]
    )
    assert "run-2" in first.stdout  # the report names it
    copies = {
        r.data.tags["mlflow_syncer.source_run_id"]: r
        for r in dst.search_runs([dst.get_experiment_by_name(name).experiment_id])
    }
    assert sorted(copies) == sorted(ids)
    complete = {sid for sid, r in copies.items() if "mlflow_syncer.fingerprint" in r.data.tags}
    assert complete == set(ids) - {ids[2]}

    verify = run_forked("migrate", *args, "--verify", env=env)
    assert verify.returncode == 1 and "is unreachable" not in verify.stderr, (
        verify.stdout + verify.stderr
    )
    assert "! run " in verify.stdout and "run-2: failed: connection reset" in verify.stdout, (
        verify.stdout
    )

    proxy.configure(FaultConfig())
    again = run_forked("migrate", *args, env=env)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert_same(src, dst, [name])

    # in sync now; with the file unreadable again, `diff --deep` cannot checksum it: that run is a
    # `!` row (exit 2, as the exit-code table says for diff), the other runs are compared, the
    # command is not stopped
    proxy.configure(FaultConfig(rules=[Rule("unsendable.txt", "reset", 10**6, "GET")]))
    deep = run_forked("diff", *args, "--deep", env=env)
    assert deep.returncode == 2 and "is unreachable" not in deep.stdout + deep.stderr, (
        deep.stdout + deep.stderr
    )
    assert "Traceback" not in deep.stderr
    named = [x for x in deep.stdout.splitlines() if "run-2" in x]
    assert named and "connection reset" in " ".join(named), deep.stdout
    assert sum(x.startswith("= run") for x in deep.stdout.splitlines()) == 3, deep.stdout
