"""The direct-store floor (issue 25 item 3): a minimal writer between two direct MLflow stores in
one process, with no checks and no state.

    .venv/bin/python -m bench.direct_floor SRC_URI DST_URI DST_ARTIFACT_ROOT [--threads 8]

Reads every active run of the source's experiments (but `Default`) through MLflow's own
`SqlAlchemyStore` (paged `search_runs`, one `get_metric_history` per metric key), and writes each
into a fresh destination `SqlAlchemyStore`: the experiment by name, then per run `create_run` with
the source's start time, name and user tags, the params, tags and metric points in the fewest
`log_batch` calls (MLflow's limit: 1,000 items, 100 params, 100 tags per batch), the run's
artifact folder copied as files, and `update_run_info` with the source's status and end time. Runs
are written on `threads` threads, each reading its own run (as the syncer's workers do). Prints
one JSON line: runs, metric points, files, seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from mlflow.entities import Metric, Param, Run, RunStatus, RunTag, ViewType
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

BATCH_ITEMS, BATCH_PARAMS, BATCH_TAGS = 1000, 100, 100


def _local(uri: str) -> Path:
    return Path(urlsplit(uri).path if uri.startswith("file:") else uri)


def source_runs(src: SqlAlchemyStore) -> list[tuple[str, Run]]:
    """Every active run of every active experiment but `Default`, with its experiment's name."""
    out = []
    for exp in src.search_experiments(ViewType.ACTIVE_ONLY, max_results=50_000):
        if exp.name == "Default":
            continue
        token = None
        while True:
            page = src.search_runs([exp.experiment_id], "", ViewType.ACTIVE_ONLY, 1000, None, token)
            out += [(exp.name, run) for run in page]
            token = page.token
            if not token:
                break
    return out


def batches(params: list, tags: list, metrics: list) -> list[tuple[list, list, list]]:
    """Params, tags and metrics in the fewest batches MLflow's limits allow (params first)."""
    out: list[tuple[list, list, list]] = []
    items = [*params, *tags, *metrics]
    while items:
        take, n_params, n_tags = [], 0, 0
        while items and len(take) < BATCH_ITEMS:
            item = items[0]
            if isinstance(item, Param) and n_params == BATCH_PARAMS:
                break
            if isinstance(item, RunTag) and n_tags == BATCH_TAGS:
                break
            n_params += isinstance(item, Param)
            n_tags += isinstance(item, RunTag)
            take.append(items.pop(0))
        out.append(
            (
                [x for x in take if isinstance(x, Param)],
                [x for x in take if isinstance(x, RunTag)],
                [x for x in take if isinstance(x, Metric)],
            )
        )
    return out


def copy_run(src: SqlAlchemyStore, dst: SqlAlchemyStore, exp_id: str, run: Run) -> tuple[int, int]:
    """One run: read its histories, create, batches, files, status. Returns (points, files)."""
    rid = run.info.run_id
    metrics = [m for key in run.data.metrics for m in src.get_metric_history(rid, key)]
    tags = [RunTag(k, v) for k, v in run.data.tags.items() if not k.startswith("mlflow.")]
    user = run.data.tags.get("mlflow.user", run.info.user_id or "unknown")
    made = dst.create_run(exp_id, user, run.info.start_time, tags, run.info.run_name)
    new = made.info.run_id
    params = [Param(k, v) for k, v in run.data.params.items()]
    for p, t, m in batches(params, [], metrics):
        dst.log_batch(new, metrics=m, params=p, tags=t)
    files = 0
    folder = _local(run.info.artifact_uri)
    if folder.is_dir():
        files = sum(1 for f in folder.rglob("*") if f.is_file())
        if files:
            shutil.copytree(folder, _local(made.info.artifact_uri), dirs_exist_ok=True)
    dst.update_run_info(
        new, RunStatus.from_string(run.info.status), run.info.end_time, run.info.run_name
    )
    return len(metrics), files


def copy_all(src_uri: str, dst_uri: str, artifact_root: str, threads: int) -> dict:
    """Copy every run (see the module's docstring); returns what was copied and the seconds."""
    started = time.monotonic()
    src = SqlAlchemyStore(src_uri, artifact_root)
    dst = SqlAlchemyStore(dst_uri, artifact_root)
    runs = source_runs(src)
    exp_ids = {}
    for name in sorted({name for name, _ in runs}):
        found = dst.get_experiment_by_name(name)
        exp_ids[name] = found.experiment_id if found else dst.create_experiment(name)
    with ThreadPoolExecutor(threads) as pool:
        done = [
            f.result() for f in [pool.submit(copy_run, src, dst, exp_ids[n], r) for n, r in runs]
        ]
    return {
        "runs": len(done),
        "points": sum(p for p, _ in done),
        "files": sum(f for _, f in done),
        "seconds": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("artifact_root")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(json.dumps(copy_all(args.src, args.dst, args.artifact_root, args.threads)))


if __name__ == "__main__":
    main()
