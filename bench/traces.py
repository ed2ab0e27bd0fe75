"""Trace copying: traces per second server to server, against a minimal writer, and the no-op mirror
cycle.

    .venv/bin/python bench/traces.py --traces 2000 --networks local,remote --delay 0.1

Two real `mlflow server`s (SQLite, 1 worker). The source gets N copies of a template trace (default:
a root span and a child with small inputs; `--rich`: 4 spans, nested, an errored span, events, a 200
kB unicode input), written in bulk through MLflow's SQL store. Then per network setting (`local`:
loopback; `remote`: bench/proxy.py in front of each server adding `--delay` seconds to every
request), on the same servers in the same run: mlflow-syncer migrates them (a child process,
bench/ours.py: seconds, calls and thread-seconds per call), and a minimal writer copies the same
traces with the same calls, the same number of threads and no bookkeeping (search pages, batched
reads, `log_spans`, `start_trace`). Last, two mirror cycles over the local copy: a full pass and an
incremental no-op one. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlflow import MlflowClient
from mlflow.entities import TraceInfo, TraceLocation
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from bench.main import Ends, run_ours, start_proxy
from syncer.backends.telemetry import api_call_counts
from syncer.config import EndpointConfig, NameRule, Settings
from syncer.engine.mirror_cycle import Cycle
from syncer.engine.sync import endpoints, open_state
from syncer.kinds.traces.apply import copied_spans
from tests.fixtures.procs import start_mlflow_server, stop
from tests.fixtures.traces import T0_NS, rich_trace, simple_trace

BATCH = 200
MARKS = "0123456789abcdef"  # first hex digit of the floor's copies: one per network and attempt


def seed(server_url: str, db: Path, artifacts: Path, n: int, rich: bool) -> str:
    """Experiment `bench` with n copies of a template trace, one second apart; returns its id."""
    client = MlflowClient(server_url)
    exp = client.create_experiment("bench")
    template = client.get_trace(
        rich_trace(server_url, exp, T0_NS) if rich else simple_trace(server_url, exp, T0_NS)
    )
    store = SqlAlchemyStore(f"sqlite:///{db}", str(artifacts))
    for start in range(1, n, BATCH):
        ids = [f"{i:032x}" for i in range(start, min(n, start + BATCH))]
        spans = [s for h in ids for s in copied_spans(template, f"tr-{h}", h)]
        store.log_spans(exp, spans)
        for k, h in enumerate(ids):
            info = template.info
            store.start_trace(
                TraceInfo(
                    trace_id=f"tr-{h}",
                    trace_location=TraceLocation.from_experiment_id(exp),
                    request_time=info.request_time + (start + k) * 1000,
                    state=info.state,
                    request_preview=info.request_preview,
                    response_preview=info.response_preview,
                    execution_duration=info.execution_duration,
                    trace_metadata=dict(info.trace_metadata),
                    tags=dict(info.tags),
                )
            )
    return exp


def _floor_hex(trace, mark: str) -> str:
    """The copy's trace id in hex: the source's with its first digit replaced by `mark` (one per
    floor run)."""
    return mark + trace.info.trace_id.removeprefix("tr-")[1:]


def _moved(assessment, hex_id: str):
    moved = copy.deepcopy(assessment)
    moved.trace_id, moved.assessment_id = "tr-" + hex_id, "a-" + hex_id
    return moved


def _floor_batch(
    src: MlflowClient, dst: MlflowClient, dest_exp: str, ids: list[str], mark: str
) -> int:
    """One batch: read the whole traces, write their spans in one request, then each info."""
    traces = src._tracing_client.batch_get_traces(ids)
    spans = [
        s for t in traces for s in copied_spans(t, "tr-" + _floor_hex(t, mark), _floor_hex(t, mark))
    ]
    dst._tracking_client.store.log_spans(dest_exp, spans)
    for t in traces:
        info = t.info
        dst._tracing_client.start_trace(
            TraceInfo(
                trace_id="tr-" + _floor_hex(t, mark),
                trace_location=TraceLocation.from_experiment_id(dest_exp),
                request_time=info.request_time,
                state=info.state,
                request_preview=info.request_preview,
                response_preview=info.response_preview,
                execution_duration=info.execution_duration,
                trace_metadata=dict(info.trace_metadata),
                tags=dict(info.tags),
                assessments=[_moved(a, _floor_hex(t, mark)) for a in info.assessments],
            )
        )
    return len(traces)


def floor_copy(
    src_url: str, dst_url: str, exp: str, n: int, name: str, workers: int, mark: str
) -> float:
    """The minimal writer: the same calls as ours without the destination scan, plan, state or
    checks: search pages of 500 trace infos, then `workers` threads each copying batches of 50
    (`batch_get_traces`, one `log_spans`, one `start_trace` per trace). Seconds."""
    src, dst = MlflowClient(src_url), MlflowClient(dst_url)
    dest_exp = dst.create_experiment(name)
    started = time.monotonic()
    ids, token = [], None
    while True:
        page = src._tracking_client.store.search_traces(
            locations=[exp], max_results=500, page_token=token
        )
        ids += [info.trace_id for info in page[0]]
        token = page[1]
        if not token:
            break
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = sum(
            pool.map(
                lambda b: _floor_batch(src, dst, dest_exp, b, mark),
                [ids[i : i + 50] for i in range(0, len(ids), 50)],
            )
        )
    assert done == n, done
    return time.monotonic() - started


def cycle(settings: Settings) -> list[tuple[object, float, dict]]:
    """Two mirror cycles (the first reads every trace, the second only after the cursors): report,
    seconds, calls."""
    src, dst = endpoints(settings)
    state = open_state(settings, src, dst, read_only=False)
    out = []
    try:
        c = Cycle(settings, src, dst, state)
        for _ in range(2):
            before, t0 = api_call_counts(), time.monotonic()
            report = c.run()
            seconds, after = time.monotonic() - t0, api_call_counts()
            calls = {
                f"{k[0]}:{k[1]}": int(v - before.get(k, 0))
                for k, v in after.items()
                if v - before.get(k, 0)
            }
            out.append((report, seconds, calls))
    finally:
        state.close()
    return out


def _measure(ends: Ends, net: str, exp: str, args: argparse.Namespace, root: Path) -> dict:
    """Ours (a child process, bench/ours.py) and the floor, alternately `--repeat` times, through
    the same ends: the fastest of each, every attempt, the requests counted at the proxies, ours'
    calls and thread-seconds.

    Ours is timed by the engine (`SyncResult.seconds`: the pass, without the child's interpreter
    start), as in bench/main.py; the floor runs in this process, its clients made before the clock
    starts."""
    out: dict = {"network": net, "ours_all": [], "floor_all": []}
    for attempt in range(args.repeat):
        print(f"[{net}] mlflow-syncer, attempt {attempt + 1}", flush=True)
        ours = run_ours(
            ends,
            ["bench"],
            root / f"state-{net}-{attempt}.db",
            f"ours-{net}-{attempt}/",
            args.workers,
        )
        assert not ours["failed"] and ours["outcomes"] == args.traces + 1, (
            ours
        )  # the traces and their experiment
        print(f"[{net}] minimal writer, attempt {attempt + 1}", flush=True)
        if ends.proxies:
            ends.proxy_stats()
        mark = MARKS[len(MARKS) - 1 - attempt - args.repeat * (net != "local")]
        floor = floor_copy(
            ends.src, ends.dst, exp, args.traces, f"floor-{net}-{attempt}", args.workers, mark
        )
        out["ours_all"].append(ours["seconds"])
        out["floor_all"].append(floor)
        if attempt == 0:
            out.update(
                ours_wall=ours["wall"], calls=ours["calls"], call_seconds=ours["call_seconds"]
            )
            if ends.proxies:
                out["ours_requests"] = sum(ours["proxy"]["counts"].values())
                out["floor_requests"] = sum(ends.proxy_stats()["counts"].values())
    out["ours"], out["floor"] = min(out["ours_all"]), min(out["floor_all"])
    return out


def _ends(net: str, src: str, dst: str, delay: float) -> Ends:
    if net == "local":
        return Ends("local", src, dst)
    proxies = [start_proxy(url, delay) for url in (src, dst)]
    return Ends(net, proxies[0].url, proxies[1].url, proxies)


def _table(n: int, results: list[dict], cycles: tuple | None) -> None:
    print(
        "| what | network | traces | seconds, fastest (attempts) | traces/s | ours/floor | "
        "requests |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        for who in ("ours", "floor"):
            name = "mlflow-syncer migrate" if who == "ours" else "minimal writer (floor)"
            ratio = f"{r['ours'] / r['floor']:.2f}" if who == "ours" else ""
            attempts = ", ".join(f"{t:.1f}" for t in r[who + "_all"])
            print(
                f"| {name} | {r['network']} | {n:,} | {r[who]:.1f} ({attempts}) | {n / r[who]:.1f} "
                f"| {ratio} | "
                f"{r.get(who + '_requests', '')} |"
            )
    if cycles:
        (_, full_s, _), (_, noop_s, noop_calls) = cycles
        print(f"| mirror cycle, full pass, nothing new | local | {n:,} | {full_s:.2f} | | | |")
        print(f"| mirror cycle, incremental, nothing new | local | {n:,} | {noop_s:.2f} | | | |")
        print(
            "no-op incremental cycle calls:",
            ", ".join(f"{k} {v}" for k, v in sorted(noop_calls.items())),
        )
    for r in results:
        print(f"[{r['network']}] ours: child process wall time {r['ours_wall']:.1f} s")
        print(f"[{r['network']}] ours, thread-seconds per call:", json.dumps(r["call_seconds"]))
        print(f"[{r['network']}] ours, calls:", json.dumps(r["calls"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument(
        "--rich", action="store_true", help="4-span traces with a 200 kB input (default: 2 spans)"
    )
    parser.add_argument(
        "--networks", default="local,remote", help="local (loopback), remote (--delay per request)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.1, help="seconds added to every request (remote)"
    )
    parser.add_argument("--workers", type=int, default=8, help="ours and the floor alike")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="alternate ours and the floor N times; keep the fastest",
    )
    parser.add_argument(
        "--no-cycles", action="store_true", help="skip the two mirror cycles (local)"
    )
    args = parser.parse_args()
    results, cycles = [], None
    with tempfile.TemporaryDirectory(prefix="trace-bench-") as tmp:
        root = Path(tmp)
        src = start_mlflow_server(root / "src")
        dst = start_mlflow_server(root / "dst")
        try:
            t0 = time.monotonic()
            exp = seed(
                src.url,
                root / "src" / "backend.db",
                root / "src" / "artifacts",
                args.traces,
                args.rich,
            )
            print(f"seeded {args.traces} traces in {time.monotonic() - t0:.1f} s", flush=True)
            for net in args.networks.split(","):
                ends = _ends(net, src.url, dst.url, args.delay)
                try:
                    results.append(_measure(ends, net, exp, args, root))
                finally:
                    for p in ends.proxies:
                        stop(p.proc)
            if not args.no_cycles and "local" in args.networks.split(","):
                settings = Settings(
                    source=EndpointConfig(tracking_uri=src.url),
                    destination=EndpointConfig(tracking_uri=dst.url),
                    state=f"sqlite:///{root / 'state-local.db'}",
                    experiments=["bench"],
                    experiment_names=[NameRule(match=r"^(.*)$", replace=r"ours-local-0/\1")],
                )
                cycles = cycle(settings)
                assert all(r.ok and r.copied == 0 for r, _, _ in cycles), cycles
        finally:
            src.stop()
            dst.stop()
    _table(args.traces, results, cycles)


if __name__ == "__main__":
    main()
