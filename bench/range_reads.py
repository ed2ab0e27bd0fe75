"""How a big experiment's destination side is read, window by window (issue 22, item 3): requests
and time at the server, counted by a proxy in front of a real `mlflow server`.

    .venv/bin/python -m bench.range_reads [--runs 5000 10000 20000] [--window 1000]
        [--dir /tmp/range-reads] [--json bench/results-range-reads.json]

Per size: one experiment of `runs` runs (bulk rows, tests/fixtures/bulk.py, start times T0 + i)
behind a real `mlflow server` over SQLite and bench/proxy.py (counts requests by endpoint, no
delay). Its runs are taken in windows of `window` runs two ways: `filtered`, one `search_runs` per
window filtered on its start times (syncer.scan.runs.window_runs: what the run step does on one
machine), and `stream`, one search of the range ordered by start time, paged, each window taking the
runs that started before its end (syncer.scan.runs.ordered_runs + syncer.core.windows.WindowTaker:
what a Ray range unit does). Both must return the same runs per window (checked).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from bench.main import start_proxy
from syncer.backends.endpoint import Endpoint
from syncer.core.windows import WindowTaker
from syncer.scan.runs import ordered_runs, window_runs
from tests.fixtures.bulk import T0, seed_runs
from tests.fixtures.procs import start_mlflow_server, stop


def _windows(runs: int, size: int) -> list[tuple[int | None, int | None]]:
    cuts = [T0 + i for i in range(size, runs, size)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def one(root: Path, runs: int, size: int) -> dict:
    """Both ways over a `runs`-run experiment: requests, runs returned and seconds of each."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "artifacts" / "big").mkdir(parents=True)
    eid = seed_runs(root / "backend.db", "big", runs, points=1)
    server = start_mlflow_server(root, backend_uri=f"sqlite:///{root / 'backend.db'}")
    proxy = start_proxy(server.url, 0.0)
    out: dict = {"runs": runs, "window": size}
    try:
        end = Endpoint(proxy.url, role="destination")
        windows = _windows(runs, size)
        proxy.stats()  # reset
        for way in ("filtered", "stream"):
            started = time.monotonic()
            if way == "filtered":
                got = [window_runs(end, [eid], w, True) for w in windows]
            else:
                taker = WindowTaker(ordered_runs(end, [eid], (None, None)))
                got = [taker.take(w[1]) for w in windows]
            seconds = time.monotonic() - started
            counts = proxy.stats()["counts"]
            out[way] = {
                "seconds": round(seconds, 1),
                "windows": len(windows),
                "search_requests": sum(n for e, n in counts.items() if e.endswith("/runs/search")),
                "runs_returned": sum(len(g) for g in got),
            }
            out[way + "_ids"] = [sorted(r.run_id for r in g) for g in got]
        assert out.pop("filtered_ids") == out.pop("stream_ids"), "the two ways differ"
    finally:
        stop(proxy.proc)
        server.stop()
    return out


def main() -> None:
    """Run both ways at each size; print a Markdown table, write the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, nargs="+", default=[5_000, 10_000, 20_000])
    p.add_argument("--window", type=int, default=1_000)
    p.add_argument("--dir", default="/tmp/range-reads")
    p.add_argument("--json", default="bench/results-range-reads.json")
    args = p.parse_args()
    results = []
    for n in args.runs:
        results.append(one(Path(args.dir) / f"r{n}", n, args.window))
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(
        "| runs | windows | way | search requests | runs returned | seconds |\n"
        "|---:|---:|---|---:|---:|---:|"
    )
    for r in results:
        for way in ("filtered", "stream"):
            w = r[way]
            print(
                f"| {r['runs']:,} | {w['windows']} | {way} | {w['search_requests']} | "
                f"{w['runs_returned']:,} | {w['seconds']} |"
            )


if __name__ == "__main__":
    main()
