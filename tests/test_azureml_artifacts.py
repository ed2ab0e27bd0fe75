"""Azure ML's real artifact path, end to end: runs whose artifact URIs are
`azureml://.../runs/<id>/artifacts`, written and read through the azureml-mlflow plugin's
run-history client (batch/metadata, SAS URIs into Azurite, paged listings, contentinfo;
tests/emulators/azureml_history.py). A migration SIGKILLed in the middle of a run's files converges
on the rerun, every file byte-equal, each run listed once per pass."""

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
from syncer.core.snapshot import TAG_RETIRED
from syncer.engine.sync import sync
from syncer.report.summary import summarize
from tests.compare import _artifact_tree
from tests.fixtures.azureml_plugin import PluginWorkspace
from tests.fixtures.cli import cli_env, kill_at, run_cli, write_config
from tests.fixtures.workload import T0
from tests.test_databricks_to_azureml import USER

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


def _client(client: MlflowClient, run_id: str):
    """The plugin's run-history client of a destination run (the service's own listing and
    content)."""
    from azureml.mlflow._client.artifact.run_artifact_client import RunArtifactsClient
    from azureml.mlflow._store.artifact.utils import artifact_uri_decomp

    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("azureml://") and uri.endswith(f"/runs/{run_id}/artifacts"), uri
    return RunArtifactsClient(
        client._tracking_client.store.service_context,
        artifact_uri_decomp(uri)["experiment"],
        run_id,
        None,
    )


def _history_tree(client: MlflowClient, run_id: str) -> dict[str, str]:
    """path -> sha256 of a destination run's files, read as the service hands them out: the plugin's
    run-history listing, then each file's contentinfo SAS URI (not through mlflow-syncer's code)."""
    history = _client(client, run_id)
    ctx = history._service_context
    out = {}
    for path in history.get_file_paths():
        info = history._client.run_artifacts.get_content_information(
            subscription_id=ctx.subscription_id,
            resource_group_name=ctx.resource_group_name,
            workspace_name=ctx.workspace_name,
            experiment_name=history._experiment_name,
            run_id=run_id,
            path=path,
        )
        out[path] = hashlib.sha256(
            BlobClient.from_blob_url(info.content_uri).download_blob().readall()
        ).hexdigest()
    return out


def _lists(ws: PluginWorkspace, before: Counter) -> dict[str, int]:
    seen = ws.gateway.counts - before
    return {
        k.split()[-1]: v
        for k, v in seen.items()
        if k.startswith("history list ") and k != "history list page"
    }


def test_a_killed_migration_into_azureml_run_history_converges(
    plugin_env, history_workspace, source_server, unique_name, tmp_path, monkeypatch
):
    ws = history_workspace
    src, dst = MlflowClient(source_server.url), MlflowClient(ws.uri)
    exp = _source(src, unique_name, tmp_path)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setattr(ws.history, "page", PAGE)  # 40 files: three pages, two continuation tokens
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": ws.uri},
        state=state,
        experiments=[unique_name],
        workers=1,  # one run at a time, one file at a time: no other upload in flight at the kill
    )
    before = Counter(ws.gateway.counts)
    killed = run_cli(
        "migrate",
        "--config",
        str(config),
        "--no-progress",
        env=cli_env(MLFLOW_SYNCER_FILES_IN_FLIGHT="1", **kill_at("log_artifact:25:after")),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (ws.gateway.counts - before)[
        "history batch"
    ] == 25  # one batch/metadata call per file written

    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=ws.uri),
        state=state,
        experiments=[unique_name],
        workers=1,  # one run at a time, one file at a time: no other upload in flight at the kill
    )
    before = Counter(ws.gateway.counts)
    rerun = sync(settings)
    assert not rerun.failed, [o.error for o in rerun.failed]
    seen = ws.gateway.counts - before
    # the 25th file was written but never recorded: written again, refused, settled by its size
    assert seen["history conflict"] == 1
    runs = {
        r.info.run_name: r.info.run_id
        for r in dst.search_runs([dst.get_experiment_by_name(unique_name).experiment_id])
    }
    assert sorted(runs) == ["files", "small"]
    # each run listed once at most (the files run, 9 folders: the plugin's walk would list it 9
    # times; "small" too if the kill came before its last write)
    lists = _lists(ws, before)
    assert lists[runs["files"]] == 1 and set(lists.values()) == {1}, lists
    # the files run held at most 25 records then: a continuation token, two pages
    assert seen["history list page"] == 2 + len(lists) - 1

    before = Counter(ws.gateway.counts)
    assert all(a.op is Op.SAME for a in sync(settings, dry_run=True).plan.actions), (
        "a second pass finds work"
    )
    assert _lists(ws, before) == {}
    for name, run_id in runs.items():
        [source] = src.search_runs([exp], f"attributes.run_name = '{name}'")
        want = _artifact_tree(src, source, "source")
        assert len(want) == (FILES if name == "files" else 1)
        assert _history_tree(dst, run_id) == want
    _cut_short(src, dst, settings, exp, tmp_path)


def _cut_short(
    src: MlflowClient, dst: MlflowClient, settings: Settings, exp: str, tmp: Path
) -> None:
    """A path the service recorded but whose upload never came (a writer killed between
    batch/metadata and its PUT) cannot be written again: the incomplete copy holding it is retired
    (tagged why, soft-deleted) and the run copied afresh in the same pass (exit 0, one summary
    line naming the retired copy); the next pass plans nothing, one active copy, files equal."""
    late = src.create_run(exp, start_time=T0 + 2, run_name="late").info.run_id
    assert not sync(settings).failed  # its copy, still RUNNING, without files
    dest_exp = dst.get_experiment_by_name(settings.experiments[0]).experiment_id
    [copy] = dst.search_runs([dest_exp], "attributes.run_name = 'late'")
    (tmp / "late.txt").write_text("logged at the end")
    src.log_artifact(late, str(tmp / "late.txt"))
    src.set_terminated(late, "FINISHED", end_time=T0 + 3000)
    # the record, no content
    _client(dst, copy.info.run_id)._create_empty_artifacts(paths="late.txt")
    second = sync(settings)
    assert not second.failed, [o.error for o in second.failed]
    summary = summarize(second)
    assert summary.retired == [
        f"{settings.experiments[0]}/late: {copy.info.run_id}: retired (artifact late.txt: the "
        "destination refuses to write it and holds no content there (an upload cut short: a "
        "write-once path cannot be written again))"
    ]
    old = dst.get_run(copy.info.run_id)
    assert (old.info.lifecycle_stage, old.data.tags[TAG_RETIRED]) == (
        "deleted",
        "unwritable-artifact",
    )
    [fresh] = dst.search_runs([dest_exp], "attributes.run_name = 'late'")
    assert fresh.info.run_id != copy.info.run_id and fresh.info.status == "FINISHED"
    assert _history_tree(dst, fresh.info.run_id) == {
        "late.txt": hashlib.sha256(b"logged at the end").hexdigest()
    }
    assert every_run_in_two_passes(dst, settings, late, fresh.info.run_id)


def every_run_in_two_passes(dst: MlflowClient, settings: Settings, late: str, fresh: str) -> bool:
    """The next pass plans nothing (the retired copy is neither matched nor an extra), and the state
    store maps the run to the fresh copy."""
    plan = sync(settings, dry_run=True).plan
    assert [(a.op, a.dest_id) for a in plan.actions if a.kind == "run" and a.source_id == late] == [
        (Op.SAME, fresh)
    ]
    assert all(a.op is Op.SAME for a in plan.actions), [
        (a.kind, a.op, a.label) for a in plan.actions if a.op is not Op.SAME
    ]
    return True


def test_files_from_databricks_are_copied_by_storage_into_the_sas_uris_azureml_hands_out(
    databricks_env, plugin_env, history_workspace, azurite, unique_name, tmp_path
):
    src_direct, dst = MlflowClient(databricks_env.server.url), MlflowClient(history_workspace.uri)
    name = f"{USER}/{unique_name}"
    run = src_direct.create_run(src_direct.create_experiment(name), start_time=T0).info.run_id
    for i in range(5):
        (tmp_path / f"part-{i}.bin").write_bytes(bytes([i]) * (1000 * i + 1))
        src_direct.log_artifact(run, str(tmp_path / f"part-{i}.bin"), "parts")
    src_direct.set_terminated(run, "FINISHED", end_time=T0 + 10)
    settings = Settings(
        source=EndpointConfig(tracking_uri="databricks", registry_uri="databricks"),
        destination=EndpointConfig(tracking_uri=history_workspace.uri),
        state=f"sqlite:///{tmp_path / 's.db'}",
        experiments=[name],
    )
    before = Counter(history_workspace.gateway.counts)
    first = sync(settings)
    assert not first.failed, [o.error for o in first.failed]
    assert (history_workspace.gateway.counts - before)["history batch"] == 5
    [copy] = dst.search_runs([dst.get_experiment_by_name(unique_name).experiment_id])
    tree = _history_tree(dst, copy.info.run_id)
    want = {
        f"parts/part-{i}.bin": hashlib.sha256(bytes([i]) * (1000 * i + 1)).hexdigest()
        for i in range(5)
    }
    assert tree == want
    _copied_by_storage(azurite, copy.info.run_id, want)

    # the same server read directly: `wasbs://` artifact URIs, copied by storage with a read SAS of
    # our own
    direct = settings.model_copy(
        update={
            "source": EndpointConfig(tracking_uri=databricks_env.server.url),
            "state": f"sqlite:///{tmp_path / 'direct.db'}",
        }
    )
    assert not sync(direct).failed
    [copy] = dst.search_runs([dst.get_experiment_by_name(name).experiment_id])
    assert _history_tree(dst, copy.info.run_id) == want
    _copied_by_storage(azurite, copy.info.run_id, want)


def _copied_by_storage(azurite, run_id: str, files: dict) -> None:
    """Each blob was written by Copy Blob from the source's blob, not by a Put Blob of bytes read
    here."""
    container = azurite.service().get_container_client("azureml")
    for path in files:
        props = container.get_blob_client(
            f"ExperimentRun/dcid.{run_id}/{path}"
        ).get_blob_properties()
        assert (props.copy.status, "/databricks/" in (props.copy.source or "")) == (
            "success",
            True,
        ), path
