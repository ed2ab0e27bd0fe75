"""The embedded demo: seed a local SQLite source store, migrate it to a local SQLite destination."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from rich.console import Console

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.report.model import build
from syncer.report.summary import print_summary, summarize


def seed(client: MlflowClient, artifact_root: Path) -> int:
    """Create two experiments with runs, a nested run, metric histories and artifacts. Returns run
    count."""
    runs = 0
    for e in range(2):
        exp_id = client.create_experiment(
            f"demo/experiment-{e}",
            artifact_location=str(artifact_root / f"e{e}"),
            tags={"team": "platform", "mlflow.note.content": f"demo {e}"},
        )
        parent = None
        for r in range(5):
            run = client.create_run(
                exp_id,
                start_time=1_700_000_000_000 + r * 1000,
                run_name=f"run-{r}",
                tags={"mlflow.parentRunId": parent} if parent and r == 4 else None,
            )
            rid = run.info.run_id
            parent = parent or rid
            metrics = [
                Metric("loss", math.exp(-s / 10), 1_700_000_000_000 + s, s) for s in range(50)
            ]
            metrics.append(Metric("odd", float("nan"), 1_700_000_000_100, 1))
            client.log_batch(
                rid,
                metrics=metrics,
                params=[Param("lr", str(0.1 * (r + 1))), Param("seed", "7")],
                tags=[RunTag("stage", "demo")],
            )
            with tempfile.TemporaryDirectory() as tmp:
                Path(tmp, "model notes.txt").write_text(f"run {r}\n")
                Path(tmp, "sub").mkdir()
                Path(tmp, "sub", "weights.bin").write_bytes(os.urandom(4096))
                client.log_artifacts(rid, tmp)
            client.set_terminated(rid, "FINISHED", end_time=1_700_000_000_000 + r * 1000 + 500)
            if e == 0 and r in (1, 2):
                _register(client, run.info.artifact_uri, rid)
            runs += 1
    return runs


def _register(client: MlflowClient, artifact_uri: str, run_id: str) -> None:
    """Register the run's `sub` folder as a new version of the demo model (aliased `champion`)."""
    if not client.search_registered_models("name = 'demo-model'"):
        client.create_registered_model("demo-model", description="registered in the demo source")
    version = client.create_model_version("demo-model", f"{artifact_uri}/sub", run_id=run_id)
    client.set_registered_model_alias("demo-model", "champion", version.version)


def run_demo(folder: str) -> bool:
    """Seed a fresh source under `folder`, migrate it twice (the second pass copies nothing)."""
    base = Path(folder).resolve()
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    console = Console()
    source_uri, dest_uri = f"sqlite:///{base / 'source.db'}", f"sqlite:///{base / 'dest.db'}"
    n = seed(MlflowClient(source_uri), base / "source-artifacts")
    console.print(f"seeded {n} runs in {source_uri}")
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_uri),
        destination=EndpointConfig(
            tracking_uri=dest_uri, artifact_root=str(base / "dest-artifacts")
        ),
        state=f"sqlite:///{base / 'state.db'}",
    )
    first = summarize(sync(settings))
    print_summary(first, console)
    second = summarize(sync(settings))
    rerun = second.count("run", Op.CREATE), second.count("run", Op.UPDATE)
    console.print(
        f"second pass: {rerun[0]} runs created, {second.unchanged} unchanged (idempotent: "
        f"{rerun == (0, 0)})"
    )
    report = build(settings, deep=True)
    verdict = report.summary()
    console.print(
        f"diff --deep after the migration: {'in sync' if verdict.in_sync else 'DIFFERENCES'} "
        f"({verdict.total} objects compared point by point and byte by byte)"
    )
    return (
        first.failed == 0
        and first.count("run", Op.CREATE) == n
        and rerun[0] == 0
        and verdict.in_sync
    )
