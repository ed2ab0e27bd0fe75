"""No-op mirror cycle: how many API calls and seconds one cycle costs when nothing changed.

    .venv/bin/python bench/noop_cycle.py --runs 1000 5000

For each size: a direct SQLite source with that many finished runs (bulk-seeded), its mirrored copy
served by a real `mlflow server`, then three mirror cycles over the pair. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures.bulk import noop_cycle, prepare_pair
from tests.fixtures.procs import start_mlflow_server


def measure(runs: int, repeat: int) -> dict:
    """Seed, serve the destination, run `repeat` cycles; calls of the last one, seconds of each."""
    with tempfile.TemporaryDirectory(prefix="noop-bench-") as tmp:
        folder = Path(tmp)
        src_db, dst_db = prepare_pair(folder, runs)
        server = start_mlflow_server(folder / "dest-server", backend_uri=f"sqlite:///{dst_db}")
        try:
            results = [
                noop_cycle(f"sqlite:///{src_db}", server.url, f"sqlite:///{folder / 'state.db'}")
                for _ in range(repeat)
            ]
        finally:
            server.stop()
    for r in results:
        assert r["report"].ok and r["report"].copied == 0 and r["report"].unchanged == runs + 1, r[
            "report"
        ]
    seconds = [r["seconds"] for r in results]
    return {
        "runs": runs,
        "calls": results[-1]["calls"],
        "median": statistics.median(seconds),
        "min": min(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| runs | API calls (all of them) | per-run calls | seconds (median / min) |")
    print("|---:|---|---:|---:|")
    for n in args.runs:
        m = measure(n, args.repeat)
        calls = ", ".join(f"{k} {v}" for k, v in sorted(m["calls"].items()))
        per_run = sum(v for k, v in m["calls"].items() if "search" not in k)
        print(f"| {n:,} | {calls} | {per_run} | {m['median']:.2f} / {m['min']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
