"""Azure ML's real artifact path, end to end: runs whose artifact URIs are `azureml://.../runs/<id>/artifacts`,
written and read through the azureml-mlflow plugin's run-history client (batch/metadata, SAS URIs into Azurite,
paged listings, contentinfo; tests/emulators/azureml_history.py). A migration SIGKILLed in the middle of a run's
files converges on the rerun, every file byte-equal, each run listed once per pass."""

from __future__ import annotations

import hashlib
import signal
from collections import Counter
from pathlib import Path

import pytest
import structlog
from azure.storage.blob import BlobClient
from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from tests.compare import _artifact_tree
from tests.fixtures.azureml_plugin import PluginWorkspace
from tests.fixtures.cli import cli_env, kill_at, run_cli, write_config
from tests.fixtures.workload import T0

FILES, PAGE = 40, 16


@pytest.fixture(autouse=True)
def _logs_to_live_stderr():
    yield
    structlog.reset_defaults()


def _source(client: MlflowClient, name: str, tmp: Path) -> str:
    exp = client.create_experiment(name)
    run = client.create_run(exp, start_time=T0, run_name="files").info.run_id
    folder = tmp / "files"
    for i in range(FILES):
        sub = folder / f"d{i % 4}" / ("deep" if i % 3 == 0 else "")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:02d}.bin").write_bytes(bytes([i]) * (i * 37 + 1))
    client.log_artifacts(run, str(folder))
    client.set_terminated(run, "FINISHED", end_time=T0 + 1000)
    small = client.create_run(exp, start_time=T0 + 1, run_name="small").info.run_id
    (tmp / "note.txt").write_text("one file")
    client.log_artifact(small, str(tmp / "note.txt"))
    client.set_terminated(small, "FINISHED", end_time=T0 + 2000)
    return exp


def _history_tree(client: MlflowClient, run_id: str) -> dict[str, str]:
    """path -> sha256 of a destination run's files, read as the service hands them out: the plugin's
    run-history listing, then each file's contentinfo SAS URI (not through mlflow-syncer's code)."""
    from azureml.mlflow._client.artifact.run_artifact_client import RunArtifactsClient
    from azureml.mlflow._store.artifact.utils import artifact_uri_decomp

    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("azureml://") and uri.endswith(f"/runs/{run_id}/artifacts"), uri
    parts = artifact_uri_decomp(uri)
    ctx = client._tracking_client.store.service_context
    history = RunArtifactsClient(ctx, parts["experiment"], run_id, None)
    out = {}
    for path in history.get_file_paths():
        info = history._client.run_artifacts.get_content_information(
            subscription_id=ctx.subscription_id, resource_group_name=ctx.resource_group_name,
            workspace_name=ctx.workspace_name, experiment_name=parts["experiment"], run_id=run_id, path=path)
        out[path] = hashlib.sha256(BlobClient.from_blob_url(info.content_uri).download_blob().readall()).hexdigest()
    return out


def _lists(ws: PluginWorkspace, before: Counter) -> dict[str, int]:
    seen = ws.gateway.counts - before
    return {k.split()[-1]: v for k, v in seen.items() if k.startswith("history list ") and k != "history list page"}


def test_a_killed_migration_into_azureml_run_history_converges(plugin_env, history_workspace, source_server,
                                                                 unique_name, tmp_path, monkeypatch):
    ws = history_workspace
    src, dst = MlflowClient(source_server.url), MlflowClient(ws.uri)
    exp = _source(src, unique_name, tmp_path)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(ws.history, "page", PAGE)  # 40 files: three pages, two continuation tokens
    config = write_config(tmp_path / "c.yaml", source={"tracking_uri": source_server.url},
                          destination={"tracking_uri": ws.uri}, state=state, experiments=[unique_name])
    before = Counter(ws.gateway.counts)
    killed = run_cli("migrate", "--config", str(config), "--no-progress",
                     env=cli_env(MLFLOW_SYNCER_FILES_IN_FLIGHT="1", **kill_at("log_artifact:25:after")))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (ws.gateway.counts - before)["history batch"] == 25  # one batch/metadata call per file written

    settings = Settings(source=EndpointConfig(tracking_uri=source_server.url),
                        destination=EndpointConfig(tracking_uri=ws.uri), state=state, experiments=[unique_name])
    before = Counter(ws.gateway.counts)
    rerun = sync(settings)
    assert not rerun.failed, [o.error for o in rerun.failed]
    seen = ws.gateway.counts - before
    # the 25th file was written but never recorded: written again, refused, settled by its size
    assert seen["history conflict"] == 1
    runs = {r.info.run_name: r.info.run_id for r in dst.search_runs([dst.get_experiment_by_name(unique_name)
                                                                      .experiment_id])}
    assert sorted(runs) == ["files", "small"]
    assert _lists(ws, before) == {runs["files"]: 1}  # listed once, though it has 8 folders
    assert seen["history list page"] == 2  # 25 records then: a continuation token

    before = Counter(ws.gateway.counts)
    assert all(a.op is Op.SAME for a in sync(settings, dry_run=True).plan.actions), "a second pass finds work"
    assert _lists(ws, before) == {}
    for name, run_id in runs.items():
        [source] = src.search_runs([exp], f"attributes.run_name = '{name}'")
        want = _artifact_tree(src, source, "source")
        assert len(want) == (FILES if name == "files" else 1)
        assert _history_tree(dst, run_id) == want
