"""Ray bench (issue 22): `migrate --engine ray` of one big experiment (20,000 runs by default) cut
into start-time ranges, with 1, 2 and 4 Ray worker nodes on this machine; wall time per worker
count.

    .venv/bin/python -m bench.ray_scale [--runs 20000] [--range-runs 2000] [--nodes 1 2 4]
        [--dir /tmp/ray-bench] [--json bench/results-ray.json] [--delay 0.1] [--threads 1]

`--delay`: the source behind bench/proxy.py, which adds that many seconds to each request (a
remote-like source) and counts them; `--threads`: the config's `workers`, threads per unit.

Per worker count: a fresh source (bulk rows in SQLite, tests/fixtures/bulk.py, served by a real
`mlflow server`), a fresh destination server, a fresh PostgreSQL database as the state store, and a
Ray cluster of a head and N worker nodes, one CPU each (the head runs units too: N + 1 at a time;
tests/fixtures/ray_cluster.py), stopped by process group afterwards. The figure is the syncer's and
the two local servers' together: on a 2-core machine the servers, not the workers, bound it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.main import Proxy, start_proxy
from tests.fixtures.bulk import seed_runs
from tests.fixtures.cli import SYNCER, cli_env, write_config
from tests.fixtures.postgres import start_postgres
from tests.fixtures.procs import start_mlflow_server, stop
from tests.fixtures.ray_cluster import RayCluster, start_ray_cluster


@dataclass
class Lab:
    """A fresh source of one big experiment and a destination (each behind a counting proxy when
    asked), a PostgreSQL state store and a Ray cluster: what a bench run copies with."""

    source: str  # the URL the syncer reads (the proxy's, when there is one)
    destination: str
    state: str
    cluster: RayCluster
    proxies: list[Proxy]
    stores: tuple[str, str] = ("", "")  # the source's and destination's backend store URIs


@contextmanager
def lab(
    root: Path,
    runs: int,
    nodes: int,
    proxied: int = 0,
    delay: float = 0.0,
    small: tuple[str, ...] = (),
) -> Iterator[Lab]:
    """Start the parts (`proxied`: how many ends, source first, sit behind bench/proxy.py adding
    `delay` s to each request; `small`: more experiments of 3 runs each); stop them all
    afterwards, the Ray cluster by process group."""
    shutil.rmtree(root, ignore_errors=True)
    for name in ("big", *small):
        (root / "src" / "artifacts" / name).mkdir(parents=True)
    seed_runs(root / "src" / "backend.db", "big", runs)
    for name in small:
        seed_runs(root / "src" / "backend.db", name, 3)
    src = start_mlflow_server(root / "src", backend_uri=f"sqlite:///{root / 'src' / 'backend.db'}")
    dst = start_mlflow_server(root / "dst")
    pg = start_postgres(root / "pg")
    proxies = [start_proxy(end.url, delay) for end in (src, dst)[:proxied]]
    cluster = start_ray_cluster(workers=nodes)
    try:
        urls = [p.url for p in proxies] + [end.url for end in (src, dst)[len(proxies) :]]
        state = pg.url(pg.create_database())
        yield Lab(urls[0], urls[1], state, cluster, proxies, (src.backend_uri, dst.backend_uri))
    finally:
        cluster.stop()
        for proxy in proxies:
            stop(proxy.proc)
        pg.stop()
        dst.stop()
        src.stop()


def one(
    root: Path, runs: int, range_runs: int, nodes: int, delay: float = 0.0, threads: int = 8
) -> dict:
    """Copy a `runs`-run experiment with `nodes` Ray worker nodes (the source behind a proxy adding
    `delay` s to each request when given; `threads` per unit); the wall time and the summary
    line."""
    with lab(root, runs, nodes, 1 if delay else 0, delay) as parts:
        config = write_config(
            root / "c.yaml",
            source={"tracking_uri": parts.source},
            destination={"tracking_uri": parts.destination},
            experiments=["big"],
            prompts=[],
            copy_models=False,
            workers=threads,
        )
        env = cli_env(RAY_USAGE_STATS_ENABLED="0", MLFLOW_SYNCER_STATE=parts.state)
        started = time.monotonic()
        out = subprocess.run(
            [
                SYNCER,
                "migrate",
                "--config",
                str(config),
                "--engine",
                "ray",
                "--ray-address",
                parts.cluster.address,
                "--range-runs",
                str(range_runs),
                "--no-progress",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=6 * 3600,
        )
        seconds = time.monotonic() - started
        line = next(
            (x for x in out.stdout.splitlines() if x.startswith("ray: ")), out.stderr[-300:]
        )
        requests = sum(parts.proxies[0].stats()["counts"].values()) if parts.proxies else None
        return {
            "runs": runs,
            "nodes": nodes,
            "range_runs": range_runs,
            "seconds": round(seconds, 1),
            "delay": delay,
            "threads": threads,
            "source_requests": requests,
            "runs_per_second": round(runs / seconds, 1),
            "exit": out.returncode,
            "summary": line,
            "stderr_tail": out.stderr[-2000:]
            if out.returncode
            else "",  # why, when it did not finish clean
            "failures": [x[:400] for x in out.stderr.splitlines() if "failed" in x][:20],
        }  # even when it did


def main() -> None:
    """Run the bench for each worker count; print a Markdown table, write the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=20_000)
    p.add_argument("--range-runs", type=int, default=2_000)
    p.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--dir", default="/tmp/ray-bench")
    p.add_argument("--json", default="bench/results-ray.json")
    p.add_argument("--delay", type=float, default=0.0, help="seconds added to each source request")
    p.add_argument("--threads", type=int, default=8, help="threads per unit (the config's workers)")
    args = p.parse_args()
    results = []
    for n in args.nodes:
        results.append(
            one(Path(args.dir) / f"n{n}", args.runs, args.range_runs, n, args.delay, args.threads)
        )
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print("| runs | Ray worker nodes | wall s | runs/s | exit |\n|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['runs']:,} | {r['nodes']} | {r['seconds']} | {r['runs_per_second']} | "
            f"{r['exit']} |"
        )


if __name__ == "__main__":
    main()
