"""Databricks `dbfs:/` artifacts into an Azure Blob destination (issue 6): mlflow-syncer (signed
read URLs asked in batches, each file copied by the storage service) against MLflow's own client
path (a read credential and a download per file, then an upload), on the emulated workspace of the
test suite (tests/emulators/: a real MLflow server behind the Databricks-like gateway, artifacts in
Azurite).

    .venv/bin/python -m bench.dbfs_copy [--files 400] [--big-mb 64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.fixtures.azure import blob_server, emulated_databricks, running_azurite

READ = "POST /api/2.0/mlflow/artifacts/credentials-for-read"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}


def make_run(client: MlflowClient, files: int, big_mb: int) -> tuple[str, int]:
    """One run with `files` small files in 8 folders and one big file; returns (experiment name,
    bytes)."""
    name = f"/Users/bench@corp.com/dbfs-{time.time_ns()}"
    run = client.create_run(client.create_experiment(name))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(files):
            (root / f"part-{i % 8}").mkdir(exist_ok=True)
            (root / f"part-{i % 8}" / f"f{i:05d}.bin").write_bytes(os.urandom(4096))
        (root / "model.bin").write_bytes(os.urandom(big_mb << 20))
        client.log_artifacts(run.info.run_id, str(root))
    client.set_terminated(run.info.run_id)
    return name, files * 4096 + (big_mb << 20)


def ours(dest_url: str, name: str, state: Path) -> float:
    settings = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=dest_url),
        state=f"sqlite:///{state}",
        experiments=[name],
    )
    start = time.perf_counter()
    result = sync(settings)
    assert not result.failed, [o.error for o in result.failed]
    return time.perf_counter() - start


def mlflow_client_path(dest_url: str, run_id: str) -> float:
    """What a script on MLflow's client does: download the run's tree, then log it into a new
    run."""
    start = time.perf_counter()
    dst = MlflowClient(dest_url)
    with tempfile.TemporaryDirectory() as tmp:
        local = MlflowClient("databricks").download_artifacts(run_id, "", tmp)
        run = dst.create_run(dst.create_experiment(f"plain-{time.time_ns()}"))
        dst.log_artifacts(run.info.run_id, local)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--big-mb", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_azurite(Path(tmp)) as azurite:
        workspace = emulated_databricks(Path(tmp) / "databricks", azurite)
        dest = blob_server(Path(tmp) / "dest", azurite, "dest")
        os.environ.update(DATABRICKS_HOST=workspace.url, DATABRICKS_TOKEN=workspace.token)
        try:
            src = MlflowClient(workspace.server.url)
            name, size = make_run(src, args.files, args.big_mb)
            run_id = src.search_runs([src.get_experiment_by_name(name).experiment_id])[
                0
            ].info.run_id
            rows = []
            for label, job in (
                ("mlflow-syncer", lambda: ours(dest.url, name, Path(tmp) / "s.db")),
                ("MLflow client: download, log", lambda: mlflow_client_path(dest.url, run_id)),
            ):
                before = Counter(workspace.gateway.counts)
                seconds = job()
                seen = workspace.gateway.counts - before
                requests = sum(n for key, n in seen.items() if key.split()[0] in METHODS)
                rows.append((label, seconds, seen[READ], requests))
            print(
                f"one run, {args.files + 1} files, {size / 2**20:.1f} MiB, Databricks-like -> "
                f"Azure Blob destination"
            )
            print(
                f"{'path':42} {'seconds':>8} {'read-credential requests':>25} "
                f"{'workspace requests':>19}"
            )
            for label, seconds, creds, total in rows:
                print(f"{label:42} {seconds:8.1f} {creds:25d} {total:19d}")
        finally:
            workspace.gateway.stop()
            workspace.server.stop()
            dest.stop()


if __name__ == "__main__":
    main()
