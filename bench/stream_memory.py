"""Peak memory and time of `diff --format json` and a no-op `mirror --once` over a large direct
SQLite source.

    .venv/bin/python bench/stream_memory.py --runs 50000 --experiments 10 [--code DIR]

Seeds (raw SQL, seconds) a source of finished runs (10 params, 6 tags, 3 metrics each) and, for the
mirror cycle, a destination that is its exact mirrored copy (provenance tags and fingerprints as a
pass writes them). Each command runs in its own process under /usr/bin/time -v; `--code` runs
another checkout's `syncer` (e.g. `git archive main`) for before/after figures. Prints one JSON line
per command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mlflow import MlflowClient

T0 = 1_700_000_000_000
ROOT = Path(__file__).resolve().parent.parent


def seed(db: Path, runs: int, experiments: int) -> None:
    """Experiments through the client (the schema), runs through raw SQL."""
    client = MlflowClient(f"sqlite:///{db}")
    exp_ids = [
        client.create_experiment(f"big-{e:02d}", artifact_location=str(db.parent / "art" / str(e)))
        for e in range(experiments)
    ]
    conn = sqlite3.connect(db)
    for e, exp_id in enumerate(exp_ids):
        per = runs // experiments + (e < runs % experiments)
        run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
        for i in range(per):
            rid = uuid.uuid4().hex
            start = T0 + i * 1000
            run_rows.append(
                (
                    rid,
                    f"r{e}-{i}",
                    "LOCAL",
                    "",
                    "",
                    "bench",
                    "FINISHED",
                    start,
                    start + 500,
                    "",
                    "active",
                    f"{db.parent}/art/{e}/{rid}/artifacts",
                    int(exp_id),
                )
            )
            tag_rows += [
                (k, v, rid)
                for k, v in (
                    ("mlflow.runName", f"r{e}-{i}"),
                    ("team", "bench"),
                    ("a", "1"),
                    ("b", "2"),
                    ("c", "3"),
                    ("d", str(i)),
                )
            ]
            param_rows += [(f"p{k}", str(k * i), rid) for k in range(10)]
            for k in range(3):
                metric_rows.append((f"m{k}", 0.5, start + 1, rid, 0, 0))
                latest_rows.append((f"m{k}", 0.5, start + 1, 0, 0, rid))
        with conn:
            conn.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id,"
                " status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,"
                " experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                run_rows,
            )
            conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tag_rows)
            conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", param_rows)
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan)"
                " VALUES (?,?,?,?,?,?)",
                metric_rows,
            )
            conn.executemany(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)"
                " VALUES (?,?,?,?,?,?)",
                latest_rows,
            )
    conn.close()


def mirror_copy(src_db: Path, dst_db: Path, code: Path) -> None:
    """The destination a pass would have written: the source's rows plus provenance tags and
    fingerprints."""
    sys.path.insert(0, str(code))
    from syncer.backends.endpoint import Endpoint
    from syncer.core.capabilities import PLAIN_MLFLOW
    from syncer.core.snapshot import TAG_FINGERPRINT, TAG_SOURCE, TAG_SOURCE_RUN_ID, Snapshot
    from syncer.plan.runs import make_plan
    from syncer.scan.runs import scan

    shutil.copyfile(src_db, dst_db)
    src = Endpoint(f"sqlite:///{src_db}", role="bench-seed")
    snap = scan(src)
    plan = make_plan(
        snap,
        Snapshot(identity="empty"),
        {e: x.name for e, x in snap.experiments.items()},
        PLAIN_MLFLOW,
    )
    rows = []
    for a in plan.actions:
        if a.kind == "run":
            rows += [
                (TAG_SOURCE, src.identity, a.source_id),
                (TAG_SOURCE_RUN_ID, a.source_id, a.source_id),
                (TAG_FINGERPRINT, a.fingerprint, a.source_id),
            ]
    conn = sqlite3.connect(dst_db)
    with conn:
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", rows)
    conn.close()


def measure(name: str, args: list[str], code: Path, cwd: Path) -> dict:
    """Run `mlflow-syncer ARGS` with `code` first on the path: wall seconds, peak RSS (MB), exit
    code."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    started = time.monotonic()
    cli = "import sys; from syncer.cli.app import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", cli, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return {
        "command": name,
        "seconds": round(seconds, 1),
        "peak_rss_mb": int(rss.group(1)) // 1024 if rss else None,
        "exit": proc.returncode,
        "tail": proc.stderr.strip().splitlines()[-25:-23] if proc.returncode > 1 else [],
    }


def two_cycles(src: str, dst: str, state: str) -> None:
    """One mirror service's first two cycles (the second a change-only one where the code has them):
    prints each cycle's seconds, unchanged count and search_runs calls as JSON."""
    from syncer.backends.telemetry import api_call_counts
    from syncer.config import Settings
    from syncer.engine.mirror_cycle import Cycle
    from syncer.engine.sync import endpoints, open_state

    settings = Settings(
        source={"tracking_uri": src}, destination={"tracking_uri": dst}, state=state
    )
    ends = endpoints(settings)
    store = open_state(settings, *ends, read_only=False)
    cycle = Cycle(settings, *ends, store)
    for n in (1, 2):
        before, started = api_call_counts(), time.monotonic()
        report = cycle.run()
        calls = {
            f"{k[0]}:{k[1]}": int(v - before.get(k, 0))
            for k, v in api_call_counts().items()
            if "search_runs" in k[1] and v - before.get(k, 0)
        }
        print(
            json.dumps(
                {
                    "cycle": n,
                    "seconds": round(time.monotonic() - started, 1),
                    "ok": report.ok,
                    "unchanged": report.unchanged,
                    "calls": calls,
                }
            ),
            flush=True,
        )
    store.close()


def main() -> None:
    if sys.argv[1:2] == ["--two-cycles"]:
        two_cycles(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose syncer package runs"
    )
    parser.add_argument(
        "--keep", type=Path, help="reuse (or keep) the seeded stores in this folder"
    )
    parser.add_argument(
        "--only", choices=["diff", "mirror", "cycles"], nargs="+", default=["diff", "mirror"]
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="stream-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    src_db, dst_db, empty_db = folder / "src.db", folder / "dst.db", folder / "empty.db"
    if not src_db.exists():
        seed(src_db, args.runs, args.experiments)
        mirror_copy(src_db, dst_db, args.code)
        MlflowClient(f"sqlite:///{empty_db}").search_experiments()
    src, dst, empty = (f"sqlite:///{p}" for p in (src_db, dst_db, empty_db))
    state = folder / f"state-{uuid.uuid4().hex[:6]}.db"
    commands = {
        "diff": (
            "diff --format json (empty destination)",
            [
                "diff",
                "--source",
                src,
                "--dest",
                empty,
                "--format",
                "json",
                "--output",
                str(folder / "d.json"),
            ],
        ),
        "mirror": (
            "mirror --once (no-op)",
            ["mirror", "--once", "--source", src, "--dest", dst, "--state", f"sqlite:///{state}"],
        ),
    }
    for what in args.only:
        if what == "cycles":
            env = {**os.environ, "PYTHONPATH": str(args.code)}
            subprocess.run(
                [sys.executable, __file__, "--two-cycles", src, dst, f"sqlite:///{state}.2"],
                env=env,
                cwd=folder,
                check=False,
                stderr=subprocess.DEVNULL,
            )
            continue
        name, cmd = commands[what]
        print(
            json.dumps(
                {"runs": args.runs, "code": str(args.code), **measure(name, cmd, args.code, folder)}
            ),
            flush=True,
        )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
