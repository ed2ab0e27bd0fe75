"""What the driver's full pass after the Ray units costs (issue 22): `migrate --engine ray` of one
experiment cut into start-time ranges, its requests counted by side and by phase.

    .venv/bin/python -m bench.ray_passes [--runs 2000] [--range-runs 500] [--dir /tmp/ray-passes]

A fresh source (bulk rows in SQLite, tests/fixtures/bulk.py, served by a real `mlflow server`), a
fresh destination server, each behind bench/proxy.py (counts every request), a PostgreSQL state
store and a Ray cluster of a head and one worker node (tests/fixtures/ray_cluster.py). The driver
runs in this process, so its own API calls (the units' planning and the full pass) are counted
apart from the units' (syncer.backends.telemetry; the units run in Ray's worker processes): the
units' requests are the proxies' count less the driver's. The planning is measured again on its own
(syncer.engine.ray_units.plan_units) and subtracted: what is left is the full pass.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from bench.ray_scale import lab
from syncer.backends.telemetry import api_call_counts
from syncer.cli.app import main as cli
from syncer.config import EndpointConfig, Settings
from syncer.engine import ray_units
from syncer.engine.sync import endpoints
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


def one(root: Path, runs: int, range_runs: int) -> dict:
    """Copy a `runs`-run experiment on Ray; the requests of the units, the planning and the full
    pass."""
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
        before = api_call_counts()
        started = time.monotonic()
        code = cli([*argv, "--log-level", "warning"])
        seconds = time.monotonic() - started
        driver = _calls(before)
        requests = [sum(p.stats()["counts"].values()) for p in parts.proxies]
        settings = Settings(
            source=EndpointConfig(tracking_uri=parts.source),
            destination=EndpointConfig(tracking_uri=parts.destination),
            experiments=["big"],
            scale_out={"range_runs": range_runs},
        )
        before = api_call_counts()
        units = ray_units.plan_units(settings, *endpoints(settings))
        planning = _calls(before)
    return {
        "runs": runs,
        "range_runs": range_runs,
        "units": len(units),
        "exit": code,
        "seconds": round(seconds, 1),
        "requests": {"source": requests[0], "destination": requests[1]},
        "driver_planning": dict(planning),
        "driver_full_pass": dict(driver - planning),
        "units_requests": sum(requests) - sum(driver.values()),
    }


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
