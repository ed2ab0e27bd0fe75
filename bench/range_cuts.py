"""Ray planning bench (issue 22): the start-time ranges `migrate --engine ray` would cut one
experiment of a SQLite store into (syncer.scan.range_cuts), how long cutting took, and how many runs
each range holds, counted in SQL afterwards.

    .venv/bin/python -m bench.range_cuts STORE.db [--experiment ID] [--range-runs 10000]

STORE.db: an MLflow SQLite store, read in this process (`sqlite:///`), as bench/ray_big.py's driver
reads its source (bench/scale_source.py makes one: `--runs 1000000 --experiments 1`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time

from syncer.backends.endpoint import Endpoint
from syncer.core.capabilities import resolve
from syncer.scan.range_cuts import start_ranges


def sizes(db: str, experiment_id: str, ranges: list) -> list[int]:
    """The active runs of each range, counted by SQLite."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return [
            con.execute(
                "SELECT COUNT(*) FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'"
                + ("" if lo is None else f" AND start_time >= {int(lo)}")
                + ("" if hi is None else f" AND start_time < {int(hi)}"),
                (int(experiment_id),),
            ).fetchone()[0]
            for lo, hi in ranges
        ]


def main() -> None:
    """Cut, time, count; print the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("--experiment", help="its id (default: the experiment of the first run)")
    p.add_argument("--range-runs", type=int, default=10_000)
    args = p.parse_args()
    uri = f"sqlite:///{args.store}"
    eid = args.experiment
    if eid is None:
        with sqlite3.connect(f"file:{args.store}?mode=ro", uri=True) as con:
            eid = str(con.execute("SELECT experiment_id FROM runs LIMIT 1").fetchone()[0])
    wall, cpu = time.monotonic(), time.process_time()
    ranges = start_ranges(Endpoint(uri, caps=resolve(uri)), eid, False, args.range_runs)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    counted = sizes(args.store, eid, ranges)
    out = {
        "ranges": len(ranges),
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average": os.getloadavg(),
        "runs": sum(counted),
        "sizes": counted,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
