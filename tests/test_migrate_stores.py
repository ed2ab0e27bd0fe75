"""Migration between direct stores (no server): SQLite files and a local ./mlruns folder."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.engine.sync import sync
from syncer.plan.uncopied import is_unlisted
from tests.compare import assert_same, logged_model_records
from tests.fixtures.cli import run_forked
from tests.fixtures.sqlite_stores import sqlite_store


def _migrate(src: str, dst: str, tmp_path, experiments, **kw):
    settings = Settings(
        source=EndpointConfig(tracking_uri=src),
        destination=EndpointConfig(tracking_uri=dst, artifact_root=str(tmp_path / "dest-art")),
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=experiments,
        **kw,
    )
    return sync(settings)


def test_folder_store_to_sqlite(tmp_path, workload_factory, monkeypatch):
    """A legacy `./mlruns` folder as the source (SQLite to SQLite is tests/test_conformance.py's
    `sqlite`)."""
    monkeypatch.chdir(tmp_path)
    src_uri = str(tmp_path / "mlruns")
    dst_uri = f"sqlite:///{tmp_path / 'dst.db'}"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    src = MlflowClient(src_uri)
    w = workload_factory(src, "direct", runs_per_experiment=2)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the syncer must ask for the legacy store itself
    result = _migrate(src_uri, dst_uri, tmp_path, ["direct/*"])
    assert not [o for o in result.outcomes if not o.ok]
    assert_same(src, MlflowClient(dst_uri), w.experiments)
    again = _migrate(src_uri, dst_uri, tmp_path, ["direct/*"])
    assert again.outcomes == [] and again.plan.in_sync


def test_deleted_mirror_copies_deleted_runs_as_deleted(tmp_path, workload_factory):
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    src, dst = MlflowClient(src_uri), MlflowClient(dst_uri)
    w = workload_factory(src, "del", runs_per_experiment=1)
    gone = src.create_experiment("del/gone")
    run = src.create_run(gone, run_name="in-deleted-exp")
    src.set_terminated(run.info.run_id, "FINISHED")
    src.delete_experiment(gone)

    skipped = _migrate(src_uri, dst_uri, tmp_path, ["del/*"])
    assert dst.get_experiment_by_name("del/gone") is None
    assert {o.action.source_id for o in skipped.outcomes}.isdisjoint(w.deleted_runs)

    mirrored = _migrate(src_uri, dst_uri, tmp_path, ["del/*"], deleted="mirror")
    assert not [o for o in mirrored.outcomes if not o.ok]
    assert dst.get_experiment_by_name("del/gone").lifecycle_stage == "deleted"
    assert_same(src, dst, w.experiments + ["del/gone"], view=ViewType.ALL)
    again = _migrate(src_uri, dst_uri, tmp_path, ["del/*"], deleted="mirror")
    assert again.outcomes == [] and all(
        a.op is Op.SAME or is_unlisted(a) for a in again.plan.actions
    )


def test_source_without_its_artifact_folder_stops_naming_it(tmp_path):
    """A SQLite source copied without its artifact folder: migrate and diff --deep stop with one
    line naming the location (exit 2, nothing written), never "copied with 0 files" or "in sync";
    with the folder back the same command copies every file, and says where a destination without
    artifact_root keeps them."""
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    src = MlflowClient(src_uri)
    exp = src.create_experiment("reach/files", artifact_location=str(tmp_path / "art" / "files"))
    run = src.create_run(exp, run_name="with-file")
    (tmp_path / "model.txt").write_text("weights\n")
    src.log_artifact(run.info.run_id, str(tmp_path / "model.txt"))
    src.set_terminated(run.info.run_id)
    (tmp_path / "art").rename(tmp_path / "elsewhere")
    args = [
        "--source",
        src_uri,
        "--dest",
        dst_uri,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        "reach/*",
        "--no-progress",
    ]
    for command in (["migrate"], ["diff", "--deep"]):
        done = run_forked(*command, *args)
        err = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(err) == 1 and err[0].startswith(
            "mlflow-syncer: error: the source's files are out of reach: "
            "experiment 'reach/files' keeps its artifacts at "
            f"{tmp_path / 'art' / 'files'}, which does not exist"
        ), err
    assert MlflowClient(dst_uri).get_experiment_by_name("reach/files") is None
    (tmp_path / "elsewhere").rename(tmp_path / "art")
    done = run_forked("migrate", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # No artifact_root for the direct-store destination: the summary says where its files went.
    assert (
        f"note: destination has no artifact_root: files of the experiments it creates go to "
        f"{tmp_path / 'mlruns'}"
    ) in " ".join(done.stdout.split()), done.stdout
    assert_same(src, MlflowClient(dst_uri), ["reach/files"])


def test_source_without_its_logged_models_folder_stops_naming_it(tmp_path):
    """A SQLite source whose experiment holds logged models but no run, copied without its artifact
    folder: migrate stops with one line naming the logged model and its location (exit 2, nothing
    written), never a logged model copied without its files; with the folder back every file is
    copied."""
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), f"sqlite:///{tmp_path / 'dst.db'}"
    src = MlflowClient(src_uri)
    exp = src.create_experiment(
        "reach/models", artifact_location=str(tmp_path / "art" / "models-exp")
    )
    models = [
        src.create_logged_model(exp, name=name, model_type="agent") for name in ("agent", "second")
    ]
    (tmp_path / "MLmodel").write_text("flavors: {agent: 1}\n")
    for lm in models:
        src.log_model_artifact(lm.model_id, str(tmp_path / "MLmodel"))
        src.finalize_logged_model(lm.model_id, "READY")
    (tmp_path / "art").rename(tmp_path / "elsewhere")
    args = [
        "--source",
        src_uri,
        "--dest",
        dst_uri,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        "reach/*",
        "--no-progress",
    ]
    done = run_forked("migrate", *args, cwd=tmp_path)
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stdout + done.stderr
    location = src.get_logged_model(models[0].model_id).artifact_location
    assert err == [
        f"mlflow-syncer: error: the source's files are out of reach: logged model 'agent' "
        f"({models[0].model_id}) of experiment 'reach/models' keeps its artifacts at {location}, "
        f"whose folder {tmp_path / 'art' / 'models-exp'} does not exist on this machine; mount or "
        "copy the source's artifact folder there, or run mlflow-syncer where it is (a server "
        "source: serve its artifacts, `mlflow server --serve-artifacts`; a store that never held "
        "a file: create the empty folder)"
    ], err
    assert MlflowClient(dst_uri).get_experiment_by_name("reach/models") is None
    (tmp_path / "elsewhere").rename(tmp_path / "art")
    done = run_forked("migrate", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    dest_exp = MlflowClient(dst_uri).get_experiment_by_name("reach/models").experiment_id
    want = logged_model_records(src_uri, [exp], dest=False)
    assert [sorted(r["files"]) for r in want.values()] == [["MLmodel"]] * 2
    assert logged_model_records(dst_uri, [dest_exp], dest=True) == want
