"""Generate the benchmark workloads into a running source server, fast.

Experiments are created through the server (so their artifact location is the server's proxied
store); runs, params and tags go through a direct SQLAlchemy store on the same SQLite file, metric
points are inserted with plain executemany, and artifact files are written straight into the
server's artifact folder.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Param, RunStatus, RunTag
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore


@dataclass
class Spec:
    """What one workload holds."""

    name: str
    experiments: int = 1
    runs: int = 100  # per experiment
    params: int = 10
    metrics: int = 3
    steps: int = 200
    artifact_bytes: int = 0  # one file of this size per run
    big_file: int = 0  # A: one big file in the first run
    small_files: int = 0  # A: this many small files in the first run

    @property
    def points(self) -> int:
        return self.experiments * self.runs * self.metrics * self.steps


def specs(scale: dict[str, float]) -> dict[str, Spec]:
    """The four workloads of issue 8; `scale` shrinks S's and M's run counts, H's metric count (each
    history keeps its 50,000 steps) and A's big file."""
    h_metrics = max(1, round(20 * scale.get("H", 1.0)))
    m_runs = max(1, round(100 * scale.get("M", 1.0)))
    a_big = int((1 << 30) * scale.get("A", 1.0))
    s_runs = max(1, round(100 * scale.get("S", 1.0)))
    return {
        "S": Spec("S", runs=s_runs, params=10, metrics=3, steps=200, artifact_bytes=256 << 10),
        "M": Spec("M", experiments=20, runs=m_runs, params=3, metrics=2, steps=5),
        "H": Spec("H", runs=10, params=2, metrics=h_metrics, steps=50_000),
        "A": Spec("A", runs=1, params=1, metrics=1, steps=1, big_file=a_big, small_files=2000),
    }


@dataclass
class Workload:
    spec: Spec
    prefix: str
    experiment_names: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    artifact_files: int = 0
    artifact_bytes: int = 0


def _artifact_dir(server_root: Path, exp_id: str, run_id: str) -> Path:
    return server_root / "artifacts" / exp_id / run_id / "artifacts"


def _write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = os.urandom(min(size, 1 << 20)) if size else b""
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def _metric_rows(spec: Spec, run_id: str, t0: int) -> tuple[list[tuple], list[tuple]]:
    rows, latest = [], []
    for k in range(spec.metrics):
        key = f"metric_{k}"
        for step in range(spec.steps):
            rows.append((key, random.random(), t0 + step, run_id, step, 0))
        latest.append((key, rows[-1][1], t0 + spec.steps - 1, spec.steps - 1, 0, run_id))
    return rows, latest


def generate(
    spec: Spec, server_url: str, server_root: Path, db_path: Path, prefix: str
) -> Workload:
    """Create the workload's experiments and runs in the source server."""
    client = MlflowClient(server_url)
    store = SqlAlchemyStore(f"sqlite:///{db_path}", str(server_root / "artifacts"))
    conn = sqlite3.connect(db_path, timeout=60)
    w = Workload(spec, prefix)
    t0 = int(time.time() * 1000) - 86_400_000
    for e in range(spec.experiments):
        name = f"{prefix}/{spec.name}-{e:02d}"
        exp_id = client.create_experiment(name, tags={"bench": spec.name})
        w.experiment_names.append(name)
        for r in range(spec.runs):
            start = t0 + r * 1000
            run = store.create_run(
                exp_id, "bench", start, [RunTag("team", "bench")], f"run-{e}-{r}"
            )
            rid = run.info.run_id
            store.log_batch(
                rid,
                metrics=[],
                params=[Param(f"p{i}", str(i * r)) for i in range(spec.params)],
                tags=[RunTag("kind", spec.name), RunTag("index", str(r))],
            )
            rows, latest = _metric_rows(spec, rid, start)
            with conn:
                conn.executemany(
                    "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.executemany(
                    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    latest,
                )
            adir = _artifact_dir(server_root, exp_id, rid)
            if spec.artifact_bytes:
                _write_file(adir / "model.bin", spec.artifact_bytes)
                w.artifact_files += 1
                w.artifact_bytes += spec.artifact_bytes
            if spec.big_file:
                _write_file(adir / "big" / "blob.bin", spec.big_file)
                w.artifact_files += 1
                w.artifact_bytes += spec.big_file
            for i in range(spec.small_files):
                _write_file(adir / "small" / f"d{i // 100:02d}" / f"f{i:04d}.txt", 1024)
                w.artifact_files += 1
                w.artifact_bytes += 1024
            store.update_run_info(rid, RunStatus.FINISHED, start + 500_000, None)
            w.run_ids.append(rid)
    conn.close()
    store.engine.dispose()
    return w


def change_one_percent(server_url: str, w: Workload) -> int:
    """Change 1% of the runs (at least one) through the server: a new metric point and a new tag."""
    client = MlflowClient(server_url)
    picked = w.run_ids[:: max(1, len(w.run_ids) // max(1, len(w.run_ids) // 100))][
        : max(1, len(w.run_ids) // 100)
    ]
    for rid in picked:
        client.log_metric(rid, "metric_0", 1.5, step=10**6)
        client.set_tag(rid, "changed", "yes")
    return len(picked)
