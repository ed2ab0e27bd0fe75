"""Issue 25 item 3: `mlflow-syncer migrate` between direct SQLite stores against the direct-store
floor (bench/direct_floor.py), on the same generated source, in paired attempts.

    .venv/bin/python -m bench.direct --workloads S,small --repeat 5 --dir /tmp/direct \
        [--json out.json] [--profile]

`BENCH_SYNCER=/work/main/.venv/bin/mlflow-syncer` measures another build's `migrate` (the floor and
the bench stay this tree's). `BENCH_FLOOR_THREADS=1`: the floor on one thread (default 8).

Each workload is generated once into `DIR/<workload>/source.db` (bench/workloads.py's generator,
no server: experiments are created by a direct store whose artifact root is the generator's
artifact folder). Each attempt copies it into a fresh empty store twice, back to back: with
`mlflow-syncer migrate` (a fresh state store, the destination's `artifact_root` set) and with the
floor, each as a child process (imports included in both), measuring wall time and the child's CPU
(user + system, os.wait4), the 1-minute load average before each, and checking the destination
holds every source run. `--profile` also runs each once under bench/thread_profile.py (cProfile per
thread on the thread's own CPU clock), into `DIR/<workload>/profile-{ours,floor}.prof`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import workloads
from bench.scale_source import empty_store

PAIR = ("ours", "floor")
ROOT = Path(__file__).resolve().parents[1]
SYNCER = str(ROOT / ".venv" / "bin" / "mlflow-syncer")
WORKLOADS = {
    "S": workloads.specs({})["S"],  # 100 runs, 10 params, 3 metrics x 200 steps, a 256 KiB file
    "small": workloads.Spec("small", experiments=4, runs=100, params=5, metrics=2, steps=5),
}


def prepare(folder: Path, spec: workloads.Spec) -> dict:
    """The workload's source store and an empty store to copy into, generated once."""
    marker = folder / "complete.json"
    if marker.exists():
        return json.loads(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "source.db"
    # a client on sqlite:/// keeps files under ./mlruns; the generator writes under <root>/artifacts
    (folder / "mlruns").mkdir()
    (folder / "artifacts").symlink_to("mlruns")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        w = workloads.generate(spec, f"sqlite:///{db}", folder, db, "direct")
    finally:
        os.chdir(cwd)
    for exp in range(1, spec.experiments + 1):  # a store that holds no file still has the folders
        (folder / "mlruns" / str(exp)).mkdir(parents=True, exist_ok=True)
    empty_store(folder / "empty.db")
    out = {"source": str(db), "empty": str(folder / "empty.db"), "runs": len(w.run_ids)}
    out["experiments"] = w.experiment_names
    marker.write_text(json.dumps(out))
    return out


def _fresh(work: Path, stores: dict) -> dict:
    """A fresh destination (the empty store), artifact folder and state store under `work`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copyfile(stores["empty"], work / "dest.db")
    return {"dst": f"sqlite:///{work / 'dest.db'}", "root": str(work / "dest-art")}


def commands(stores: dict, work: Path) -> dict[str, tuple[list[str], dict]]:
    """The two command lines (and their environments) for one attempt, by name."""
    ends = _fresh(work, stores)
    src = f"sqlite:///{stores['source']}"
    ours = [
        os.environ.get("BENCH_SYNCER", SYNCER),
        "migrate",
        "--source",
        src,
        "--dest",
        ends["dst"],
        "--state",
        f"sqlite:///{work / 'state.db'}",
        "--no-progress",
        "--log-level",
        "warning",
        "--experiments",
        "direct/*",
    ]
    env = {**os.environ, "MLFLOW_SYNCER_DESTINATION__ARTIFACT_ROOT": ends["root"]}
    floor = [sys.executable, "-m", "bench.direct_floor", src, ends["dst"], ends["root"]]
    floor += ["--threads", os.environ.get("BENCH_FLOOR_THREADS", "8")]
    return {"ours": (ours, env), "floor": (floor, dict(os.environ))}


def launch(cmd: list[str], env: dict, log: Path) -> dict:
    """Run one child; its wall seconds, CPU seconds (user + system) and exit code."""
    load = os.getloadavg()[0]
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    return {
        "wall": round(time.monotonic() - started, 2),
        "cpu": round(usage.ru_utime + usage.ru_stime, 2),
        "rc": os.waitstatus_to_exitcode(status),
        "load": load,
    }


def copied_runs(db: Path) -> tuple[int, int]:
    """(finished runs, metric rows) in a destination store, outside `Default`."""
    conn = sqlite3.connect(db)
    try:
        runs = conn.execute(
            "SELECT COUNT(*) FROM runs JOIN experiments USING (experiment_id) "
            "WHERE runs.status = 'FINISHED' AND experiments.name != 'Default'"
        ).fetchone()[0]
        points = conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    finally:
        conn.close()
    return runs, points


def attempt(folder: Path, stores: dict, i: int) -> dict:
    """One paired attempt: ours, then the floor, each into a fresh destination."""
    out = {}
    for name in PAIR:
        work = folder / f"{name}-{i}"
        cmd, env = commands(stores, work)[name]
        m = launch(cmd, env, folder / f"{name}-{i}.log")
        m["copied"], m["points"] = copied_runs(work / "dest.db")
        out[name] = m
    out["ratio_wall"] = round(out["ours"]["wall"] / out["floor"]["wall"], 3)
    out["ratio_cpu"] = round(out["ours"]["cpu"] / out["floor"]["cpu"], 3)
    return out


def profile(folder: Path, stores: dict) -> None:
    """Each command once under bench/thread_profile.py (every thread's own CPU, cProfile), into
    `DIR/<workload>/profile-{ours,floor}.prof`."""
    for name in PAIR:
        cmd, env = commands(stores, folder / f"profile-{name}")[name]
        module = "syncer.cli.app:main" if name == "ours" else "bench.direct_floor"
        prof = [sys.executable, "-m", "bench.thread_profile", str(folder / f"profile-{name}.prof")]
        m = launch(
            [*prof, module, *cmd[3 if name == "floor" else 1 :]], env, folder / f"p-{name}.log"
        )
        print(name, "profiled", json.dumps(m), file=sys.stderr)


def summary(name: str, tries: list[dict], spec_runs: int) -> dict:
    """The medians of the attempts' ratios and measures, over the attempts where both copies
    completed (an 8-thread floor can meet SQLite's `database is locked` under load)."""
    med = statistics.median
    done = [t for t in tries if all(t[k]["rc"] == 0 and t[k]["copied"] == spec_runs for k in PAIR)]
    tries, failed = done or tries, len(tries) - len(done)
    return {
        "workload": name,
        "runs": spec_runs,
        "attempts": tries,
        "failed_attempts": failed,
        "median_ratio_wall": med(t["ratio_wall"] for t in tries),
        "median_ratio_cpu": med(t["ratio_cpu"] for t in tries),
        "median_wall": {k: med(t[k]["wall"] for t in tries) for k in PAIR},
        "median_cpu": {k: med(t[k]["cpu"] for t in tries) for k in PAIR},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="S,small")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/direct-bench"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    results = []
    for name in args.workloads.split(","):
        folder = args.dir / name
        stores = prepare(folder, WORKLOADS[name])
        if args.profile:
            profile(folder, stores)
        tries = []
        for i in range(args.repeat):
            tries.append(attempt(folder, stores, i))
            print(name, i, json.dumps(tries[-1]), file=sys.stderr, flush=True)
        if tries:
            results.append(summary(name, tries, stores["runs"]))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "attempts"}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
