"""Ray bench (issue 22): one big experiment read by `migrate --engine ray` in start-time ranges;
wall time, the driver's peak RSS and each Ray worker process's peak RSS.

    .venv/bin/python -m bench.ray_big [--runs 100000 200000] [--range-runs 10000] [--nodes 2]
        [--dir /tmp/ray-big] [--json bench/results-ray-big.json]

Per size: a source of one experiment and the copy a finished `migrate` would have left
(bench/scale_source.py: MLflow's SQLite schema, rows written by SQLite itself, in seconds), both
read directly (`sqlite:///`), a SQLite state store, and a Ray cluster of a head and N worker nodes
(one CPU each; tests/fixtures/ray_cluster.py). Every run plans `=`: the figure is the reading and
planning of a big experiment shared by the workers (each range unit reads its range of both ends in
windows of 1,000 runs), then the driver's full pass, which reads every run once more. The driver
runs under bench/peak_rss.py (its peak alone); a worker's peak is what its units report (`ru_maxrss`
of the Ray worker process when each unit ends, logged by the driver: a worker runs one unit at a
time and lives through several); the VmHWM of the Ray processes left when the command ends is kept
beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.peak_rss import measure
from bench.scale_source import Shape, generate_pair
from tests.fixtures.cli import SYNCER, cli_env
from tests.fixtures.ray_cluster import RayCluster, start_ray_cluster


def worker_peaks_mb(cluster: RayCluster) -> list[float]:
    """The peak RSS (VmHWM, MB) of each of the cluster's Ray worker processes (`ray::...`
    titles)."""
    peaks = []
    for pid in cluster.pids():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if cmdline.startswith(b"ray::"):
            hwm = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
            peaks.append(round(hwm / 1024, 1))
    return sorted(peaks, reverse=True)


def unit_peaks_mb(log: str) -> dict[int, float]:
    """Each Ray worker process's peak RSS (MB) as its units reported it (the driver's `unit
    done`)."""
    peaks: dict[int, float] = {}
    for line in log.splitlines():
        if '"unit done"' in line:
            done = json.loads(line)
            peaks[done["pid"]] = max(peaks.get(done["pid"], 0.0), done["peak_mb"])
    return peaks


def _phase_seconds(log: str, event: str) -> float | None:
    """The `seconds` of the driver's JSON log line `event` (the units' phase)."""
    for line in log.splitlines():
        if event in line:
            try:
                return json.loads(line).get("seconds")
            except ValueError:
                return None
    return None


def phases(log: str, ended: datetime) -> dict[str, float | None]:
    """Seconds of the driver's phases: planning the units (its `units planned` line says), the
    units (`units finished`), and the full pass, from `units finished` to the command's end
    (`ended`, wall clock)."""
    finished = next((json.loads(x) for x in log.splitlines() if '"units finished"' in x), None)
    if finished is None:
        return {"planning_seconds": None, "full_pass_seconds": None}
    at = datetime.fromisoformat(finished["timestamp"].replace("Z", "+00:00"))
    return {
        "planning_seconds": _phase_seconds(log, '"units planned"'),
        "full_pass_seconds": round((ended - at).total_seconds(), 1),
    }


def one(root: Path, runs: int, range_runs: int, nodes: int) -> dict:
    """Read a `runs`-run experiment and its copy on a cluster of `nodes` worker nodes."""
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    stores = generate_pair(root, Shape(runs, experiments=1))
    built = time.monotonic() - started
    cluster = start_ray_cluster(workers=nodes)
    try:
        log = root / "migrate.log"
        cmd = [
            SYNCER,
            "migrate",
            "--source",
            f"sqlite:///{stores['source']}",
            "--dest",
            f"sqlite:///{stores['mirrored']}",
            "--state",
            f"sqlite:///{root / 'state.db'}",
            "--engine",
            "ray",
            "--ray-address",
            cluster.address,
            "--range-runs",
            str(range_runs),
            "--no-progress",
            "--no-models",
            "--no-prompts",
            "--log-format",
            "json",
            "--log-level",
            "info",
        ]
        with log.open("w") as out:
            m = measure(
                cmd,
                root / "rss.json",
                None,
                6 * 3600,
                stdout=out,
                stderr=out,
                env=cli_env(RAY_USAGE_STATS_ENABLED="0"),
            )
        ended = datetime.now(UTC)
        workers = worker_peaks_mb(cluster)
    finally:
        cluster.stop()
    text = log.read_text()
    line = next((x for x in text.splitlines() if x.startswith("ray: ")), text[-300:])
    return {
        "runs": runs,
        "nodes": nodes,
        "range_runs": range_runs,
        "build_seconds": round(built, 1),
        "seconds": round(m["seconds"], 1),
        "units_seconds": _phase_seconds(text, "units finished"),
        **phases(text, ended),
        "settled": next((json.loads(x) for x in text.splitlines() if '"units settled"' in x), None),
        "load_average": os.getloadavg(),
        "driver_peak_mb": round(m["peak_mb"], 1),
        "worker_peaks_mb": sorted(unit_peaks_mb(text).values(), reverse=True),
        "ray_processes_at_end_mb": workers,
        "exit": m["rc"],
        "summary": line,
    }


def main() -> None:
    """Run the bench for each size; print a Markdown table, write the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, nargs="+", default=[100_000, 200_000])
    p.add_argument("--range-runs", type=int, default=10_000)
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--dir", default="/tmp/ray-big")
    p.add_argument("--json", default="bench/results-ray-big.json")
    args = p.parse_args()
    results = []
    for n in args.runs:
        results.append(one(Path(args.dir) / f"r{n}", n, args.range_runs, args.nodes))
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(
        "| runs | nodes | planning s | units s | full pass s | wall s | driver peak MB "
        "| worker peaks MB | exit |\n|---:|---:|---:|---:|---:|---:|---:|---|---:|"
    )
    for r in results:
        print(
            f"| {r['runs']:,} | {r['nodes']} | {r['planning_seconds']} | {r['units_seconds']} | "
            f"{r['full_pass_seconds']} | {r['seconds']} | {r['driver_peak_mb']} | "
            f"{', '.join(map(str, r['worker_peaks_mb']))} | {r['exit']} |"
        )


if __name__ == "__main__":
    main()
