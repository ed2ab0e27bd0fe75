"""Real outages under a `mirror` service, with the default retry knobs (docs/RELIABILITY.md,
"Outages").

    .venv/bin/python bench/outages.py --seconds 180 --interval 30

A source and a destination `mlflow server` and a PostgreSQL state store, each behind a loopback gate
(tests/fixtures/tcpgate.py); the service runs as a subprocess. For each end and each mode
(connection refused, hanging), the gate is shut for `--seconds`, a run is logged on the source
meanwhile, and the script measures what the service says during the outage and how soon after the
return the run is copied. Prints one Markdown row per outage.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, run_cli
from tests.fixtures.mirror import Daemon, make_runs, start_daemon
from tests.fixtures.outages import copied, cycles, log_lines, log_run, metric, mirror_config, wait
from tests.fixtures.postgres import start_postgres
from tests.fixtures.procs import start_mlflow_server
from tests.fixtures.tcpgate import Gate, gates

OUTAGES = [
    ("destination", "refuse"),
    ("destination", "hang"),
    ("source", "refuse"),
    ("source", "hang"),
    ("state store", "refuse"),
    ("state store", "hang"),
]


def outage(
    daemon: Daemon,
    gate: Gate,
    end: str,
    mode: str,
    seconds: float,
    src: MlflowClient,
    dst: MlflowClient,
    exp: tuple[str, str],
    state_url: str,
) -> dict:
    """Shut `gate` for `seconds` with a run logged meanwhile; what the service said, and the
    catch-up."""
    daemon.wait_ready(600)
    offset, errors, began = daemon.log.stat().st_size, cycles(daemon, "error"), time.monotonic()
    gate.set(mode)
    rid = log_run(src, exp[0], f"during-{end}-{mode}".replace(" ", "-"))
    seen = {"ready_503_after": None, "max_lag": 0.0, "pending": set(), "status": None}
    while time.monotonic() - began < seconds:
        if seen["ready_503_after"] is None and daemon.get("/readyz")[0] == 503:
            seen["ready_503_after"] = round(time.monotonic() - began)
        seen["max_lag"] = max(
            seen["max_lag"], metric(daemon, "mlflow_syncer_replication_lag_seconds")
        )
        seen["pending"].add(str(metric(daemon, "mlflow_syncer_pending_objects")))
        if seen["status"] is None and end == "state store" and time.monotonic() - began > 30:
            t = time.monotonic()
            out = run_cli("status", "--state", state_url, env=cli_env(), timeout=300)
            seen["status"] = f"exit {out.returncode} in {time.monotonic() - t:.0f} s"
        time.sleep(2)
    lines = log_lines(daemon, offset)
    back, at_return = time.monotonic(), daemon.log.stat().st_size
    gate.set("open")
    wait(lambda: copied(dst, exp[1], rid), "the copy", daemon, timeout=900)
    copy_after = time.monotonic() - back
    wait(lambda: daemon.get("/readyz")[0] == 200, "ready again", daemon, timeout=900)
    ended = [x for x in log_lines(daemon, at_return) if x.get("event") == "cycle ended"]
    return {
        "outage": f"{end} {mode}",
        "failed_cycles": cycles(daemon, "error") - errors,
        "waiting_lines": sum(x.get("event") == "cycle waiting" for x in lines),
        "log_lines": len(lines),
        "copied_after_s": round(copy_after, 1),
        "cycle_that_copied": next(i for i, x in enumerate(ended) if x["copied"] >= 1) + 1,
        **seen,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--interval", default="30s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="outage-bench-") as tmp:
        root = Path(tmp)
        source, dest = start_mlflow_server(root / "src"), start_mlflow_server(root / "dst")
        pg = start_postgres(Path(tempfile.mkdtemp(prefix="outage-bench-pg-")))
        try:
            run(args, root, source.url, dest.url, pg)
        finally:
            source.stop()
            dest.stop()
            pg.stop()


def run(args: argparse.Namespace, root: Path, source_url: str, dest_url: str, pg) -> None:
    src, dst = MlflowClient(source_url), MlflowClient(dest_url)
    make_runs(src, "outages", 2, points=5, artifact=False)
    exp = (src.get_experiment_by_name("outages").experiment_id, "outages")
    with gates() as gate:
        ends = {
            "source": gate(*_host_port(source_url)),
            "destination": gate(*_host_port(dest_url)),
            "state store": gate("127.0.0.1", pg.port),
        }
        state = pg.url(pg.create_database()).replace(
            f":{pg.port}/", f":{ends['state store'].port}/"
        )
        config = mirror_config(
            root,
            f"http://{ends['source'].address}",
            f"http://{ends['destination'].address}",
            "outages",
            state,
        )
        daemon = start_daemon(config, root, "--interval", args.interval)
        print(
            "| outage | failed cycles | log lines (`cycle waiting`) | /readyz 503 after | max lag "
            "| "
            "pending seen | status | copied after return | by cycle |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        try:
            for end, mode in OUTAGES:
                r = outage(daemon, ends[end], end, mode, args.seconds, src, dst, exp, state)
                print(
                    f"| {r['outage']} | {r['failed_cycles']:.0f} | {r['log_lines']} "
                    f"({r['waiting_lines']}) | "
                    f"{r['ready_503_after']} s | {r['max_lag']:.0f} s | "
                    f"{', '.join(sorted(r['pending']))} | "
                    f"{r['status'] or '-'} | {r['copied_after_s']} s | {r['cycle_that_copied']} |",
                    flush=True,
                )
        finally:
            daemon.stop()
    runs = dst.search_runs([dst.get_experiment_by_name("outages").experiment_id])
    print(f"\ndestination runs: {len(runs)} (source: {2 + len(OUTAGES)})")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


if __name__ == "__main__":
    main()
