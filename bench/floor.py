"""The floor: the same data, read beforehand, written straight to the destination by a minimal
writer (create_run, filled log_batch(es), log_artifacts, set_terminated per run; 8 threads). What
the destination can ingest; no reads, no checks, no state.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType


@dataclass
class RunData:
    experiment: str
    start_time: int
    end_time: int
    status: str
    name: str
    params: list[Param]
    tags: list[RunTag]
    metrics: list[Metric]
    artifact_dir: str | None


def preread(src_url: str, experiment_names: list[str], artifacts_root: Path) -> list[RunData]:
    """Read every run of the experiments and their metric histories; artifacts stay in the source
    server's own folder (`artifacts_root`), which the writer uploads from directly."""
    client = MlflowClient(src_url)
    out = []
    for name in experiment_names:
        exp = client.get_experiment_by_name(name)
        for run in client.search_runs(
            [exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=5000
        ):
            rid = run.info.run_id
            metrics = [m for key in run.data.metrics for m in client.get_metric_history(rid, key)]
            local = artifacts_root / run.info.artifact_uri.split(":/", 1)[1]
            adir = str(local) if local.is_dir() and any(local.iterdir()) else None
            tags = [RunTag(k, v) for k, v in run.data.tags.items() if not k.startswith("mlflow.")]
            out.append(
                RunData(
                    name,
                    run.info.start_time,
                    run.info.end_time,
                    run.info.status,
                    run.info.run_name,
                    [Param(k, v) for k, v in run.data.params.items()],
                    tags,
                    metrics,
                    adir,
                )
            )
    return out


def _write(client: MlflowClient, exp_ids: dict[str, str], r: RunData) -> None:
    run = client.create_run(exp_ids[r.experiment], start_time=r.start_time, run_name=r.name)
    rid = run.info.run_id
    items: list = [*r.params, *r.tags, *r.metrics]
    for i in range(0, max(1, len(items)), 1000):
        chunk = items[i : i + 1000]
        client.log_batch(
            rid,
            metrics=[x for x in chunk if isinstance(x, Metric)],
            params=[x for x in chunk if isinstance(x, Param)],
            tags=[x for x in chunk if isinstance(x, RunTag)],
            synchronous=True,
        )
    if r.artifact_dir:
        client.log_artifacts(rid, r.artifact_dir)
    client.set_terminated(rid, r.status, r.end_time)


def write(dst_url: str, data: list[RunData], prefix: str, workers: int = 8) -> float:
    """Write the pre-read runs into new experiments `prefix + name`; returns the seconds it took."""
    client = MlflowClient(dst_url)
    started = time.monotonic()
    exp_ids = {
        name: client.create_experiment(prefix + name)
        for name in sorted({r.experiment for r in data})
    }
    with ThreadPoolExecutor(workers) as pool:
        for fut in [pool.submit(_write, client, exp_ids, r) for r in data]:
            fut.result()
    return time.monotonic() - started
