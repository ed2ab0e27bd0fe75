"""Trace copying: traces per second server to server, against a minimal writer, and the no-op mirror cycle.

    .venv/bin/python bench/traces.py --traces 10000

Two real `mlflow server`s (SQLite, 1 worker). The source gets N copies of a template trace (default: a root
span and a child with small inputs; `--rich`: 4 spans, nested, an errored span, events, a 200 kB unicode input),
written in bulk through MLflow's SQL store. Then: mlflow-syncer migrates them (traces per second), a
minimal writer copies the same traces with the same calls and no bookkeeping (batched reads, `log_spans`,
`start_trace`), and mirror cycles run over the mirrored pair: a full one and an incremental no-op one.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import TraceInfo, TraceLocation  # noqa: E402
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # noqa: E402

from syncer.apply.traces import copied_spans  # noqa: E402
from syncer.backends.telemetry import api_call_counts  # noqa: E402
from syncer.config import EndpointConfig, Settings  # noqa: E402
from syncer.engine.mirror_cycle import Cycle  # noqa: E402
from syncer.engine.sync import endpoints, open_state, sync  # noqa: E402
from tests.fixtures.procs import start_mlflow_server  # noqa: E402
from tests.fixtures.traces import T0_NS, rich_trace, simple_trace  # noqa: E402

BATCH = 200


def seed(server_url: str, db: Path, artifacts: Path, n: int, rich: bool) -> str:
    """Experiment `bench` with n copies of a template trace, one second apart; returns its id."""
    client = MlflowClient(server_url)
    exp = client.create_experiment("bench")
    template = client.get_trace(rich_trace(server_url, exp, T0_NS) if rich else simple_trace(server_url, exp, T0_NS))
    store = SqlAlchemyStore(f"sqlite:///{db}", str(artifacts))
    for start in range(1, n, BATCH):
        ids = [f"{i:032x}" for i in range(start, min(n, start + BATCH))]
        spans = [s for h in ids for s in copied_spans(template, f"tr-{h}", h)]
        store.log_spans(exp, spans)
        for k, h in enumerate(ids):
            info = template.info
            store.start_trace(TraceInfo(
                trace_id=f"tr-{h}", trace_location=TraceLocation.from_experiment_id(exp),
                request_time=info.request_time + (start + k) * 1000, state=info.state,
                request_preview=info.request_preview, response_preview=info.response_preview,
                execution_duration=info.execution_duration, trace_metadata=dict(info.trace_metadata),
                tags=dict(info.tags)))
    return exp


def _floor_hex(trace) -> str:  # noqa: ANN001
    return "f" + trace.info.trace_id.removeprefix("tr-")[1:]


def _moved(assessment, hex_id: str):  # noqa: ANN001, ANN202
    moved = copy.deepcopy(assessment)
    moved.trace_id, moved.assessment_id = "tr-" + hex_id, "a-" + hex_id
    return moved


def floor_copy(src_url: str, dst_url: str, exp: str, n: int) -> float:
    """The minimal writer: read traces in batches, write spans then info; no state, no checks. Seconds."""
    src, dst = MlflowClient(src_url), MlflowClient(dst_url)
    dest_exp = dst.create_experiment("floor")
    started = time.monotonic()
    token, done = None, 0
    while True:
        page = src.search_traces(locations=[exp], include_spans=False, max_results=50, page_token=token)
        traces = src._tracing_client.batch_get_traces([t.info.trace_id for t in page])
        spans = [s for t in traces for s in copied_spans(t, "tr-" + _floor_hex(t), _floor_hex(t))]
        dst._tracking_client.store.log_spans(dest_exp, spans)
        for t in traces:
            info = t.info
            dst._tracing_client.start_trace(TraceInfo(
                trace_id="tr-" + _floor_hex(t), trace_location=TraceLocation.from_experiment_id(dest_exp),
                request_time=info.request_time, state=info.state, request_preview=info.request_preview,
                response_preview=info.response_preview, execution_duration=info.execution_duration,
                trace_metadata=dict(info.trace_metadata), tags=dict(info.tags),
                assessments=[_moved(a, _floor_hex(t)) for a in info.assessments]))
        done += len(traces)
        token = page.token
        if not token:
            break
    assert done == n, done
    return time.monotonic() - started


def cycle(settings: Settings) -> list[tuple[object, float, dict]]:
    """Two mirror cycles (the first reads every trace, the second only after the cursors): report, seconds, calls."""
    src, dst = endpoints(settings)
    state = open_state(settings, src, dst, read_only=False)
    out = []
    try:
        c = Cycle(settings, src, dst, state)
        for _ in range(2):
            before, t0 = api_call_counts(), time.monotonic()
            report = c.run()
            seconds, after = time.monotonic() - t0, api_call_counts()
            calls = {f"{k[0]}:{k[1]}": int(v - before.get(k, 0)) for k, v in after.items() if v - before.get(k, 0)}
            out.append((report, seconds, calls))
    finally:
        state.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--rich", action="store_true", help="4-span traces with a 200 kB input (default: 2 spans)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trace-bench-") as tmp:
        root = Path(tmp)
        src = start_mlflow_server(root / "src")
        dst = start_mlflow_server(root / "dst")
        try:
            t0 = time.monotonic()
            exp = seed(src.url, root / "src" / "backend.db", root / "src" / "artifacts", args.traces, args.rich)
            print(f"seeded {args.traces} traces in {time.monotonic() - t0:.1f} s", flush=True)
            settings = Settings(source=EndpointConfig(tracking_uri=src.url),
                                destination=EndpointConfig(tracking_uri=dst.url),
                                state=f"sqlite:///{root / 'state.db'}", experiments=["bench"], copy_models=False)
            t0 = time.monotonic()
            result = sync(settings)
            ours = time.monotonic() - t0
            assert not result.failed and sum(o.action.kind == "trace" for o in result.outcomes) == args.traces
            floor = floor_copy(src.url, dst.url, exp, args.traces)
            (full, full_s, _), (noop, noop_s, noop_calls) = cycle(settings)
            assert full.ok and noop.ok and full.copied == 0 and noop.copied == 0, (full, noop)
        finally:
            src.stop()
            dst.stop()
    n = args.traces
    print("| what | traces | seconds | traces/s |\n|---|---:|---:|---:|")
    print(f"| mlflow-syncer migrate | {n:,} | {ours:.1f} | {n / ours:.0f} |")
    print(f"| minimal writer (floor) | {n:,} | {floor:.1f} | {n / floor:.0f} |")
    print(f"| mirror cycle, full pass, nothing new | {n:,} | {full_s:.2f} | |")
    print(f"| mirror cycle, incremental, nothing new | {n:,} | {noop_s:.2f} | |")
    print("no-op incremental cycle calls:", ", ".join(f"{k} {v}" for k, v in sorted(noop_calls.items())))


if __name__ == "__main__":
    main()
