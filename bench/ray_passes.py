"""What the driver's full pass after the Ray units costs (issue 22): `migrate --engine ray` of one
experiment cut into start-time ranges, its requests counted by side and by phase.

    .venv/bin/python -m bench.ray_passes [--runs 2000] [--range-runs 500] [--dir /tmp/ray-passes]

A fresh source (bulk rows in SQLite, tests/fixtures/bulk.py, served by a real `mlflow server`), a
fresh destination server, each behind bench/proxy.py (counts every request), a PostgreSQL state
store and a Ray cluster of a head and one worker node (tests/fixtures/ray_cluster.py). The driver
runs in this process, so its own API calls (the units' planning and the full pass) are counted
apart from the units' (syncer.backends.telemetry; the units run in Ray's worker processes), and the
moment the units end is seen (`RayUnits.__call__` returns): what follows is the full pass.

Three commands on the same lab: the copy (`copy`), then, the copy in sync, once with the full pass
reading every run again as before this change (`full`: the units' settled runs not handed to it)
and once as now (`settled`): the same units, the same destination, one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

from bench.ray_scale import lab
from syncer.backends.telemetry import api_call_counts
from syncer.cli.app import main as cli
from syncer.cli.ray_engine import RayUnits
from tests.fixtures.cli import write_config


def _calls(before: dict) -> Counter:
    """API calls by `role:op` since `before` (this process's)."""
    after = api_call_counts()
    return Counter(
        {
            f"{k[0]}:{k[1]}": int(v - before.get(k, 0))
            for k, v in after.items()
            if v > before.get(k, 0)
        }
    )


def _migrate(argv: list[str], settle: bool) -> dict:
    """One `migrate --engine ray` in this process: its driver's calls and seconds, the full pass's
    apart (from the moment the units ended); `settle=False`: the pass reads every run again."""
    seen: dict = {}
    original = RayUnits.__call__

    def units(self, src, dst):  # the CLI's hook, wrapped
        found = original(self, src, dst)
        seen["calls"], seen["at"] = api_call_counts(), time.monotonic()
        return found if settle else None

    before = api_call_counts()
    started = time.monotonic()
    RayUnits.__call__ = units
    try:
        code = cli([*argv, "--log-level", "warning"])
    finally:
        RayUnits.__call__ = original
    ended = time.monotonic()
    full_pass = _calls(seen["calls"])
    return {
        "exit": code,
        "seconds": round(ended - started, 1),
        "full_pass_seconds": round(ended - seen["at"], 1),
        "driver_before_full_pass": dict(_calls(before) - full_pass),
        "driver_full_pass": dict(full_pass),
        "full_pass_requests": sum(full_pass.values()),
        "full_pass_run_searches": sum(n for k, n in full_pass.items() if "search_runs" in k),
    }


def one(root: Path, runs: int, range_runs: int) -> dict:
    """Copy a `runs`-run experiment on Ray, then run it again in sync with the full pass as before
    and as now; the requests of the units and of each full pass."""
    with lab(root, runs, nodes=1, proxied=2) as parts:
        config = write_config(
            root / "c.yaml",
            source={"tracking_uri": parts.source},
            destination={"tracking_uri": parts.destination},
            state=parts.state,
            experiments=["big"],
            prompts=[],
            copy_models=False,
        )
        argv = ["migrate", "--config", str(config), "--engine", "ray", "--no-progress"]
        argv += ["--ray-address", parts.cluster.address, "--range-runs", str(range_runs)]
        out = {"runs": runs, "range_runs": range_runs}
        for name, settle in (("copy", True), ("full", False), ("settled", True)):
            counted = [sum(p.stats()["counts"].values()) for p in parts.proxies]
            out[name] = _migrate(argv, settle)
            now = [sum(p.stats()["counts"].values()) for p in parts.proxies]
            requests = [a - b for a, b in zip(now, counted, strict=True)]
            driver = out[name]["full_pass_requests"] + sum(
                out[name]["driver_before_full_pass"].values()
            )
            out[name]["requests"] = {"source": requests[0], "destination": requests[1]}
            out[name]["units_requests"] = sum(requests) - driver
            out[name]["load_average"] = os.getloadavg()
    return out


def main() -> None:
    """Run the bench once; print and write the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=2_000)
    p.add_argument("--range-runs", type=int, default=500)
    p.add_argument("--dir", default="/tmp/ray-passes")
    p.add_argument("--json", default="")
    args = p.parse_args()
    result = one(Path(args.dir), args.runs, args.range_runs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
