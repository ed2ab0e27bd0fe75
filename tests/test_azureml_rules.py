"""Azure ML's own rules, end to end: a migration into the Azure ML emulator
(tests/emulators/azureml.py, azureml_blobs.py) of an experiment with an MLflow UI saved view and a
long description, a run of 250 params and a run of 150 files whose migration is SIGKILLed in the
middle of its uploads. The rerun converges: every run complete, every file byte-equal, the overflow
reported and kept, a further pass plans nothing."""

from __future__ import annotations

import hashlib
import json
import signal
import tempfile
from pathlib import Path

import pytest
import structlog
from azure.core.exceptions import ResourceExistsError
from mlflow import MlflowClient
from mlflow.entities import Param
from mlflow.exceptions import MlflowException

from syncer.backends import azure_blob as blob
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.archive import ARCHIVE_EXPERIMENT
from syncer.core.fitting import UI_VIEW_PREFIX
from syncer.engine.sync import sync
from tests.fixtures.cli import cli_env, kill_at, run_forked, write_config
from tests.fixtures.workload import T0

VIEW = UI_VIEW_PREFIX + "5f1d0c2a"
FILES = 150


@pytest.fixture(autouse=True)
def _logs_to_live_stderr():
    yield
    structlog.reset_defaults()


def _source(client: MlflowClient, name: str, tmp: Path) -> dict:
    view = json.dumps({"columns": [f"metrics.m{i}" for i in range(200)], "sort": "start_time"})
    assert len(view) > 3000
    note = "A description. " * 140
    exp = client.create_experiment(
        name, tags={VIEW: view, "mlflow.note.content": note, "team": "vision"}
    )
    wide = client.create_run(exp, start_time=T0, run_name="wide").info.run_id
    params = {f"p{i:03d}": str(i) for i in range(250)}
    for start in range(0, 250, 100):
        client.log_batch(
            wide, params=[Param(k, v) for k, v in list(params.items())[start : start + 100]]
        )
    client.set_terminated(wide, "FINISHED", end_time=T0 + 1000)
    files = client.create_run(exp, start_time=T0 + 1, run_name="files").info.run_id
    folder = tmp / "files"
    for i in range(FILES):
        sub = folder / f"d{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:03d}.txt").write_bytes(f"file {i} ".encode() * (i + 1))
    client.log_artifacts(files, str(folder), "data")
    client.set_terminated(files, "FINISHED", end_time=T0 + 2000)
    return {
        "experiment": exp,
        "view": view,
        "note": note,
        "params": params,
        "wide": wide,
        "files": files,
    }


def _tree(client: MlflowClient, run_id: str) -> dict[str, str]:
    repo_uri = client.get_run(run_id).info.artifact_uri
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(repo_uri, tracking_uri=client._tracking_client.tracking_uri)
    out, folders = {}, [None]
    with tempfile.TemporaryDirectory() as tmp:
        while folders:
            for info in repo.list_artifacts(folders.pop()):
                if info.is_dir:
                    folders.append(info.path)
                else:
                    out[info.path] = hashlib.sha256(
                        Path(repo.download_artifacts(info.path, tmp)).read_bytes()
                    ).hexdigest()
    return out


def _emulator_refuses(dst: MlflowClient, dest_run: str) -> None:
    """The rules the migration met, answered as Azure ML answers them."""
    exp = dst.create_experiment(f"rules-{dest_run[:8]}")
    with pytest.raises(MlflowException, match="exceeds the limit of 1000"):
        dst.set_experiment_tag(exp, VIEW, "x" * 1001)
    with pytest.raises(MlflowException, match="FieldName=Parameters, Limit=200, Size=201"):
        dst.log_param(dest_run, "one-more", "1")
    with pytest.raises(MlflowException, match="Currently unsupported filter string format"):
        dst.search_runs([exp], "tags.`mlflow_syncer.source_run_id` != ''")
    with pytest.raises(MlflowException, match="Currently unsupported filter string format"):
        dst.search_registered_models()  # MLflow 3 adds a tag filter that leaves prompts out
    with pytest.raises(MlflowException, match="404"):
        dst.search_logged_models([exp])
    root = blob.BlobLocation.parse(dst.get_run(dest_run).info.artifact_uri)
    with pytest.raises(
        ResourceExistsError, match="Resource Conflict: ArtifactId ExperimentRun/dcid"
    ):
        blob.blob_client(root.child("mlflow_syncer/overflow_params.json")).upload_blob(
            b"{}", overwrite=True
        )


def test_migration_into_azureml_converges_with_its_rules(
    source_server, azureml_dest, azurite, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(azureml_dest.url)
    s = _source(src, unique_name, tmp_path)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=azureml_dest.url, profile="azureml"),
        state=state,
        experiments=[unique_name],
    )

    plan = sync(settings, dry_run=True).plan.actions
    notes = {a.kind + ":" + a.label: " | ".join(a.details.get("policy", [])) for a in plan}
    assert "not set: an MLflow UI view of" in notes[f"experiment:{unique_name}"]
    assert "mlflow.note.content truncated to 1000" in notes[f"experiment:{unique_name}"]
    assert (
        "50 params not logged: azureml takes 200 params per run" in notes[f"run:{unique_name}/wide"]
    )

    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": azureml_dest.url, "profile": "azureml"},
        state=state,
        experiments=[unique_name],
        workers=2,
    )
    # the service's 429 + Retry-After at volume; one per second: a run's second batch is refused
    # (Retry-After 1-2 s), as few seconds waited as that takes
    azureml_dest.rules.set_log_batch_rate(1.0)
    try:
        killed = run_forked(
            "migrate",
            "--config",
            str(config),
            "--no-progress",
            env=cli_env(**kill_at("blob_upload:60:after")),
        )
    finally:
        azureml_dest.rules.set_log_batch_rate(None)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    refused = azurite.front.counts["409 overwrite"]
    rerun = sync(settings)
    assert (
        azurite.front.counts["409 overwrite"] > refused
    )  # files uploaded but never recorded: settled
    assert not rerun.failed, [o.error for o in rerun.failed]
    assert all(a.op is Op.SAME for a in sync(settings, dry_run=True).plan.actions), (
        "a second pass finds work"
    )

    exp = dst.get_experiment_by_name(unique_name)
    assert VIEW not in exp.tags and exp.tags["team"] == "vision"
    assert exp.tags["mlflow.note.content"] == s["note"][:986] + "...[truncated]"
    runs = {r.info.run_name: r for r in dst.search_runs([exp.experiment_id])}
    assert sorted(runs) == ["files", "wide"]
    wide = runs["wide"]
    assert wide.data.params == {k: v for k, v in s["params"].items() if k < "p200"}
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(
            dst.download_artifacts(wide.info.run_id, "mlflow_syncer/overflow_params.json", tmp)
        )
        assert json.loads(kept.read_text()) == {k: v for k, v in s["params"].items() if k >= "p200"}
        archive = dst.get_experiment_by_name(ARCHIVE_EXPERIMENT)
        holder = [
            r.info.run_id
            for r in dst.search_runs([archive.experiment_id])
            if r.data.tags.get("mlflow_syncer.archive.experiment") == s["experiment"]
        ]
        assert len(holder) == 1
        [file] = [
            f.path for f in dst.list_artifacts(holder[0]) if f.path.startswith("experiment_tags.")
        ]
        full = json.loads(Path(dst.download_artifacts(holder[0], file, tmp)).read_text())
        assert full["object"]["tags"] == {VIEW: s["view"], "mlflow.note.content": s["note"]}

    source_files = _tree(src, s["files"])
    assert len(source_files) == FILES
    assert _tree(dst, runs["files"].info.run_id) == source_files
    counts = azureml_dest.gateway.counts
    assert counts["429 log-batch"] > 0  # met and waited out
    assert [
        counts[k]
        for k in (
            "400 params per run",
            "400 runs/search filter",
            "400 runs/search order_by",
            "400 registered-models/search tag filter",
        )
    ] == [0, 0, 0, 0]
    _verify_cannot_rewrite(settings, azurite, runs["files"].info.artifact_uri)
    _emulator_refuses(dst, wide.info.run_id)


def _verify_cannot_rewrite(settings: Settings, azurite, artifact_uri: str) -> None:
    """A file of other bytes (same size) in a write-once destination: --verify reports it, never a
    repair refused on every pass."""
    root = blob.BlobLocation.parse(artifact_uri)
    path = "data/d0/f000.txt"
    direct = azurite.service().get_blob_client(
        root.container, root.child(path).path
    )  # behind the front
    direct.upload_blob(b"X" * len(direct.download_blob().readall()), overwrite=True)
    verified = sync(settings, verify=True)
    assert not verified.failed, [o.error for o in verified.failed]
    rows = [a for a in verified.plan.actions if a.kind == "run" and a.op is not Op.SAME]
    assert len(rows) == 1, [(a.op, a.label, a.details) for a in rows]
    row = rows[0]
    assert (row.op, row.label.rsplit("/", 1)[-1]) == (Op.CONFLICT, "files")
    assert (
        row.details["artifacts_checksum_differs"] == [path]
        and "write-once" in row.details["reason"]
    )
