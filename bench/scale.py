"""Scale bench (issue 14): peak RSS and wall time of `diff`, a no-op `mirror --once` and the first
`migrate` of a slice, over a generated source of N runs.

    .venv/bin/python -m bench.scale --runs 100000 1000000 [--dir /tmp/scale-bench] [--cap-mb 3000]
        [--max-seconds 3600] [--json bench/results-scale.json] [--only diff-json,mirror-noop]

Per size, `bench/scale_source.py` writes the source (100 experiments, 10 params, 6 tags, 3 metrics
per run) and the copy a finished `migrate` would have left (kept in `--dir` and reused by later
invocations). Each command then runs in its own process under `bench/peak_rss.py` (peak RSS of that
process alone, wall time; killed above `--cap-mb` so that a run cannot exhaust a shared machine, or
after `--max-seconds`):

- `diff-text`, `diff-json`, `diff-html`: source against its mirrored copy (every run `=`), report to
  a file;
- `diff-json-empty`: source against an empty destination (every run `+`);
- `mirror-noop`: `mirror --once` over the mirrored pair (a cycle that finds nothing to do; the first
  cycle of a state store reads every run);
- `mirror-change`: after `mirror-noop` (its state store), `CHANGED_RUNS` new finished runs are
  logged to the source, then `mirror --once` again: a change-only cycle (docs/MIRRORING.md) that
  copies them. It grows both stores by those runs (the mirrored copy stays in sync);
- `migrate-slice`: `migrate --experiments <the first experiment>` into an empty destination (N / 100
  runs);
- `read-floor`: `bench/read_floor.py` over the source and its mirrored copy, the floor of the full
  cycle.

Every store is a direct SQLite store (no server): the figures are the syncer's own, not a server's.
Prints a Markdown table and writes the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from bench.peak_rss import measure
from bench.scale_source import Shape, generate_pair

SYNCER = str(Path(sys.executable).with_name("mlflow-syncer"))
TARGET_MB = 600  # issue 14: peak RSS for a 1,000,000-run source
CHANGED_RUNS = 100  # runs logged before `mirror-change`


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def prepare(folder: Path, shape: Shape) -> dict:
    """The source, its mirrored copy and an empty store in `folder`, generated once (a marker file
    says so)."""
    marker = folder / "complete.json"
    if marker.exists():
        return {
            k: Path(v) if k in ("source", "mirrored", "empty") else v
            for k, v in json.loads(marker.read_text()).items()
        }
    shutil.rmtree(folder, ignore_errors=True)
    out = generate_pair(folder, shape)
    marker.write_text(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in out.items()}))
    return out


def commands(stores: dict, shape: Shape, work: Path) -> dict[str, list[str]]:
    """Each measured command line, by name; `work` holds their reports, states (`<name>-state.db`,
    so that invocations measuring different commands can share `work`) and the slice's
    destination."""
    src, mirrored, empty = (_sqlite(stores[k]) for k in ("source", "mirrored", "empty"))
    out = {
        "diff-text": ["diff", "--dest", mirrored, "--output", str(work / "diff.txt")],
        "diff-json": [
            "diff",
            "--dest",
            mirrored,
            "--format",
            "json",
            "--output",
            str(work / "diff.json"),
        ],
        "diff-html": [
            "diff",
            "--dest",
            mirrored,
            "--format",
            "html",
            "--output",
            str(work / "diff.html"),
        ],
        "diff-json-empty": [
            "diff",
            "--dest",
            empty,
            "--format",
            "json",
            "--output",
            str(work / "diff-empty.json"),
        ],
        "mirror-noop": ["mirror", "--once", "--dest", mirrored],
        "mirror-change": ["mirror", "--once", "--dest", mirrored],
        "migrate-slice": [
            "migrate",
            "--dest",
            _sqlite(work / "slice.db"),
            "--no-progress",
            "--experiments",
            shape.experiment_name(0),
        ],
    }
    state = {
        "mirror-change": "mirror-noop"
    }  # the change-only cycle continues the no-op cycle's round
    syncer = {
        name: [
            SYNCER,
            cmd[0],
            "--source",
            src,
            "--state",
            _sqlite(work / f"{state.get(name, name)}-state.db"),
            "--log-level",
            "warning",
            *cmd[1:],
        ]
        for name, cmd in out.items()
    }
    # the floor of a full cycle and of diff: every run of both sides paged once
    # (bench/read_floor.py)
    return {"read-floor": [sys.executable, "-m", "bench.read_floor", src, mirrored], **syncer}


def _fresh(name: str, work: Path, stores: dict) -> None:
    """The command's scratch back to its starting point: no state; for the slice, an empty
    destination; for the change-only cycle, `CHANGED_RUNS` new runs in the source (the no-op cycle's
    state must exist)."""
    if name == "mirror-change":
        if not (work / "mirror-noop-state.db").exists():
            raise SystemExit(
                "mirror-change continues mirror-noop: run --only mirror-noop,mirror-change"
            )
        _log_new_runs(stores["source"])
        return
    for suffix in (
        "",
        "-wal",
        "-shm",
    ):  # a WAL left by a killed run would be replayed into the new store
        (work / f"{name}-state.db{suffix}").unlink(missing_ok=True)
    if name == "migrate-slice":
        shutil.copyfile(stores["empty"], work / "slice.db")


def _log_new_runs(source: Path) -> None:
    """`CHANGED_RUNS` finished runs, each with 10 params and 3 metrics, in the source's first
    experiment."""
    client = MlflowClient(_sqlite(source))
    experiment = client.search_experiments(max_results=1, order_by=["name"])[0].experiment_id
    now = int(time.time() * 1000)
    for i in range(CHANGED_RUNS):
        run = client.create_run(
            experiment, start_time=now + i, run_name=f"changed-{now}-{i}"
        ).info.run_id
        client.log_batch(
            run,
            params=[Param(f"p{k}", str(k)) for k in range(10)],
            metrics=[Metric(f"m{k}", float(k), now + i, 0) for k in range(3)],
        )
        client.set_terminated(run, "FINISHED", end_time=now + i + 1)


def _outcome(name: str, work: Path, rc: int | None) -> str:
    """What the command reported, in a few words (verdicts from the JSON reports)."""
    report = {"diff-json": "diff.json", "diff-json-empty": "diff-empty.json"}.get(name)
    if report and rc in (0, 1) and (work / report).exists():
        with open(work / report) as f:
            head = f.read(4096)
        return "in sync" if '"in_sync": true' in head else "differences"
    if name.startswith("mirror") and rc == 0:
        return _cycle_outcome(work / f"{name}.log")
    return {0: "ok", 1: "differences / partial", 2: "error", None: "-"}.get(rc, f"exit {rc}")


def _cycle_outcome(log: Path) -> str:
    """`copied N, unchanged M` from the line `mirror --once` prints."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith("mirror cycle:"):
            return ", ".join(line.split("; ", 1)[1].split(", ")[:2])
    return "ok"


def run_size(
    base: Path, runs: int, cap_mb: float, max_seconds: float, only: list[str] | None
) -> list[dict]:
    """Generate (or reuse) the stores for `runs` and measure each command."""
    shape = Shape(runs)
    folder = base / f"runs-{runs}"
    started = time.monotonic()
    stores = prepare(folder, shape)
    print(
        f"{runs:,} runs: stores ready in {time.monotonic() - started:.0f} s (generated: source "
        f"{stores['source_seconds']:.0f} s, mirrored copy {stores['mirrored_seconds']:.0f} s)",
        flush=True,
    )
    work = folder / "work"
    work.mkdir(exist_ok=True)
    results = []
    for name, cmd in commands(stores, shape, work).items():
        if only and name not in only:
            continue
        _fresh(name, work, stores)
        load_before = os.getloadavg()[0]
        with open(work / f"{name}.log", "w") as log:
            m = measure(
                cmd,
                work / f"{name}.rss.json",
                cap_mb,
                max_seconds,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        outcome = (
            "killed at the RSS cap"
            if m["capped"]
            else "stopped at the time limit"
            if m["timed_out"]
            else _outcome(name, work, m["rc"])
        )
        m.update(
            load=[round(load_before, 1), round(os.getloadavg()[0], 1)],
            name=name,
            runs=runs,
            outcome=outcome,
            slice_runs=shape.slice_size(0) if name == "migrate-slice" else None,
            generated_seconds={
                "source": stores["source_seconds"],
                "mirrored": stores["mirrored_seconds"],
            },
        )
        results.append(m)
        print(row(m, results), flush=True)
    return results


def row(m: dict, results: list[dict]) -> str:
    """One Markdown row; the ratios to the read floor measured in the same run at the same size."""
    peak = f"> {m['cap_mb']:,.0f}" if m["capped"] else f"{m['peak_mb']:,.0f}"
    what = m["name"] + (f" ({m['slice_runs']:,} runs)" if m.get("slice_runs") else "")
    floor = next((f for f in results if f["name"] == "read-floor" and f["runs"] == m["runs"]), None)
    cpu, wall = (
        (f"{m['cpu_seconds'] / floor['cpu_seconds']:.2f}", f"{m['seconds'] / floor['seconds']:.2f}")
        if floor
        else ("", "")
    )
    load = "-".join(str(x) for x in m.get("load", []))
    return (
        f"| {m['runs']:,} | {what} | {m['seconds']:,.1f} | {m['cpu_seconds']:,.1f} | {cpu} | "
        f"{wall} | {peak} | {load} | {m['outcome']} |"
    )


HEADER = (
    "| source runs | command | wall s | CPU s | CPU / floor | wall / floor | peak RSS MB | "
    "load avg (1 min, before-after) | outcome |\n|---:|---|---:|---:|---:|---:|---:|---|---|"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "scale-bench"
    )
    parser.add_argument(
        "--cap-mb", type=float, default=3000, help="kill a command above this RSS (MB)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=3600, help="stop a command after this long"
    )
    parser.add_argument("--only", help="comma-separated command names (default: all)")
    parser.add_argument("--json", type=Path, default=Path("bench/results-scale.json"))
    args = parser.parse_args()
    only = args.only.split(",") if args.only else None
    print(HEADER, flush=True)
    results = [
        m for n in args.runs for m in run_size(args.dir, n, args.cap_mb, args.max_seconds, only)
    ]
    args.json.write_text(
        json.dumps(
            {
                "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "command": " ".join(sys.argv),
                "target_mb": TARGET_MB,
                "results": results,
            },
            indent=1,
        )
    )
    print("\n" + HEADER + "\n" + "\n".join(row(m, results) for m in results))


if __name__ == "__main__":
    main()
