"""Ray bench (issue 22): the killed-worker test of tests/test_ray_units.py at the issue's size.
A source of three experiments, one of them 20,000 runs cut into start-time ranges, copied by
`migrate --engine ray` on a head and two worker nodes (3 Ray worker processes) into a fresh MLflow
server with a PostgreSQL state store; one Ray worker process running a unit is SIGKILLed once the
big experiment's first range is copied and a later one half-way (the first runs alone: it creates
the experiment), and not most of the experiment. Then, read from the two servers' stores:

- duplicates: source runs with more than one copy (0 expected);
- every range accounted: the finished units' ranges of the big experiment tile it, gap-free and
  overlap-free, each done once;
- mismatches: the deep compare of tests/compare.py (every run's info, params, tags, metric
  histories) between the source and the destination: runs missing, only in the destination, or
  differing (0 expected; a read error raises).

    .venv/bin/python -m bench.ray_kill [--runs 20000] [--range-runs 2000] [--nodes 2]
        [--dir /tmp/ray-kill] [--json /tmp/ray-kill.json]

Minutes to an hour on the 2-core machine: the servers bound it, as in bench/ray_scale.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from mlflow import MlflowClient

from bench.ray_scale import lab
from tests.compare import snapshot
from tests.fixtures.cli import SYNCER, cli_env, write_config

SMALL = ("small-1", "small-2")
SOURCE_RUN_ID = "mlflow_syncer.source_run_id"


def _copied(dest_db: str) -> int:
    """Active copies in the destination's big experiment (its SQLite store, read-only)."""
    with sqlite3.connect(f"file:{dest_db}?mode=ro", uri=True, timeout=30) as db:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id"
            " WHERE e.name = 'big' AND r.lifecycle_stage = 'active'"
        ).fetchone()
    return n


def _duplicates(dest_db: str) -> int:
    with sqlite3.connect(f"file:{dest_db}?mode=ro", uri=True) as db:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM (SELECT value FROM tags WHERE key = ? GROUP BY value"
            " HAVING COUNT(*) > 1)",
            (SOURCE_RUN_ID,),
        ).fetchone()
    return n


def _tiles(windows: list[tuple[int | None, int | None]]) -> bool:
    """Whether the ranges cover every start time once: sorted, the first from None, each starting
    where the last ended, the last to None."""
    ordered = sorted(windows, key=lambda w: -1 if w[0] is None else w[0])
    return (
        bool(ordered)
        and ordered[0][0] is None
        and ordered[-1][1] is None
        and all(a[1] == b[0] for a, b in zip(ordered, ordered[1:], strict=False))
    )


def _window(label: str) -> tuple[int | None, int | None]:
    lo, hi = label.split("[", 1)[1].rstrip(")").split(",")
    return (int(lo) if lo else None, int(hi) if hi else None)


def mismatches(expected: dict, got: dict) -> dict[str, int]:
    """Per experiment, the runs missing in the destination, only there, or differing."""
    out = {}
    for name, want in expected.items():
        a, b = want["runs"], got.get(name, {}).get("runs", {})
        differ = sum(1 for k in a.keys() & b.keys() if a[k] != b[k])
        out[name] = len(a.keys() - b.keys()) + len(b.keys() - a.keys()) + differ
    return out


def one(root: Path, runs: int, range_runs: int, nodes: int) -> dict:
    """Copy with one unit's worker killed; what the copy holds."""
    with lab(root, runs, nodes, small=SMALL) as parts:
        dest_db = parts.stores[1].removeprefix("sqlite:///")
        config = write_config(
            root / "c.yaml",
            source={"tracking_uri": parts.source},
            destination={"tracking_uri": parts.destination},
            experiments=["big", *SMALL],
            prompts=[],
            copy_models=False,
            workers=2,
        )
        env = cli_env(RAY_USAGE_STATS_ENABLED="0", MLFLOW_SYNCER_STATE=parts.state)
        cmd = [SYNCER, "migrate", "--config", str(config), "--engine", "ray"]
        cmd += ["--ray-address", parts.cluster.address, "--range-runs", str(range_runs)]
        cmd += ["--no-progress", "--log-format", "json", "--log-level", "info"]
        started = time.monotonic()
        log = (root / "migrate.log").open("w")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        killed, copied_at_kill = None, None
        while proc.poll() is None and killed is None:
            copied = _copied(dest_db) if Path(dest_db).exists() else 0
            busy = parts.cluster.task_processes("_unit_task")
            if 1.5 * range_runs < copied < runs - range_runs and busy:  # a later range, mid-way
                os.kill(busy[0], signal.SIGKILL)
                killed, copied_at_kill = busy[0], copied
            time.sleep(1.0)
        out, _ = proc.communicate(timeout=6 * 3600)
        seconds = time.monotonic() - started
        log.close()
        text = (root / "migrate.log").read_text()
        done = [json.loads(x) for x in text.splitlines() if '"unit done"' in x]
        big_id = MlflowClient(parts.stores[0]).get_experiment_by_name("big").experiment_id
        windows = [
            _window(d["unit"]) for d in done if d["unit"].startswith(f"experiment:{big_id}[")
        ]
        names = ["big", *SMALL]
        compared = time.monotonic()
        expected = snapshot(MlflowClient(parts.stores[0]), names, dest=False)
        got = snapshot(MlflowClient(parts.destination), names, dest=True)  # its files: served
        return {
            "runs": runs,
            "range_runs": range_runs,
            "nodes": nodes,
            "seconds": round(seconds, 1),
            "exit": proc.returncode,
            "killed_pid": killed,
            "copied_at_kill": copied_at_kill,
            "ranges_done": len(windows),
            "ranges_tile_once": _tiles(windows) and len(set(windows)) == len(windows),
            "duplicates": _duplicates(dest_db),
            "copies_in_big": _copied(dest_db),
            "mismatches": mismatches(expected, got),
            "compare_seconds": round(time.monotonic() - compared, 1),
            "summary": next((x for x in out.splitlines() if x.startswith("ray: ")), out[-300:]),
            "load_average": os.getloadavg(),
        }


def main() -> None:
    """Run it once; print the JSON (and write it)."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20_000)
    p.add_argument("--range-runs", type=int, default=2_000)
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--dir", default="/tmp/ray-kill")
    p.add_argument("--json", default="/tmp/ray-kill.json")
    args = p.parse_args()
    result = one(Path(args.dir), args.runs, args.range_runs, args.nodes)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
