"""Standalone logged models and evaluation datasets between real servers: deep copies, reruns, kill
-9, mirror."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow.genai.datasets
from mlflow import MlflowClient
from mlflow.entities import Metric

from syncer.backends.endpoint import Endpoint
from syncer.config import EndpointConfig, Settings
from syncer.core.actions import Op
from syncer.core.capabilities import PLAIN_MLFLOW
from syncer.engine.sync import PassOptions, open_state, run_pass, sync
from tests.compare import dataset_records, logged_model_records
from tests.fixtures.cli import kill_at, migrate_forked, run_forked
from tests.fixtures.models import tracking

T0 = 1_700_000_000_000
KINDS = ("logged_model", "dataset")


@dataclass
class Genai:
    """What `make_genai` created in the source."""

    experiment: str
    experiment_id: str
    run_id: str
    model_id: str
    dataset_id: str


def add_logged_model(
    client: MlflowClient, exp_id: str, run_id: str, name: str, files: dict[str, bytes]
) -> str:
    """A finalized logged model with params, tags, two metrics (one on a dataset) and files."""
    lm = client.create_logged_model(
        exp_id,
        name=name,
        source_run_id=run_id,
        model_type="agent",
        tags={"team": "search", "unicode": "modèle ✓"},
        params={"alpha": "0.5", "layers": "3"},
    )
    with tempfile.TemporaryDirectory() as tmp:
        for rel, data in files.items():
            (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / rel).write_bytes(data)
        client.log_model_artifacts(lm.model_id, tmp)
    client.log_batch(
        run_id,
        metrics=[
            Metric("accuracy", 0.91, T0 + 1, 1, model_id=lm.model_id),
            Metric(
                "loss",
                0.25,
                T0 + 2,
                2,
                model_id=lm.model_id,
                dataset_name="eval",
                dataset_digest="abc123",
            ),
        ],
    )
    client.finalize_logged_model(lm.model_id, "READY")
    return lm.model_id


RECORDS = [
    {
        "inputs": {"question": "What is MLflow?"},
        "expectations": {"answer": "A platform"},
        "tags": {"difficulty": "easy"},
    },
    {
        "inputs": {"question": "Qu'est-ce qu'un modèle ?"},
        "expectations": {"answer": "Une fonction", "facts": ["f"]},
        "source": {"source_type": "HUMAN", "source_data": {"annotator": "ann"}},
    },
    {"inputs": {"question": "2+2?"}, "outputs": {"answer": "4"}, "expectations": {"answer": "4"}},
]


def make_genai(url: str, prefix: str) -> Genai:
    """An experiment with a run, a standalone logged model and an evaluation dataset with three
    records."""
    client = MlflowClient(url)
    exp_id = client.create_experiment(f"{prefix}/genai")
    run_id = client.create_run(exp_id, run_name="train", start_time=T0).info.run_id
    model_id = add_logged_model(
        client,
        exp_id,
        run_id,
        "standalone",
        {"MLmodel": b"flavors: {}\n", "weights/w.bin": os.urandom(70_000)},
    )
    client.set_terminated(run_id, "FINISHED", end_time=T0 + 10)
    with tracking(url):
        ds = mlflow.genai.datasets.create_dataset(
            name=f"{prefix}-qa", experiment_id=exp_id, tags={"domain": "qa", "owner": "me"}
        )
        ds.merge_records(RECORDS)
    return Genai(f"{prefix}/genai", exp_id, run_id, model_id, ds.dataset_id)


def _settings(
    src: str, dst: str, tmp: Path, experiments: list[str], models: list[str] | None = None
) -> Settings:
    return Settings(
        source=EndpointConfig(tracking_uri=src),
        destination=EndpointConfig(tracking_uri=dst),
        state=f"sqlite:///{tmp / 'state.db'}",
        experiments=experiments,
        models=models or [],
    )


def _dest_exp(url: str, name: str) -> str:
    return MlflowClient(url).get_experiment_by_name(name).experiment_id


def assert_copied(src: str, dst: str, g: Genai) -> None:
    """Logged models and datasets of the experiment are deeply equal on both sides."""
    dest_exp = _dest_exp(dst, g.experiment)
    want, have = (
        logged_model_records(src, [g.experiment_id], False),
        logged_model_records(dst, [dest_exp], True),
    )
    assert sorted(want) == sorted(have)
    for key, record in want.items():
        for field, value in record.items():
            assert have[key][field] == value, f"logged model {key}: {field} differs"
    want, have = (
        dataset_records(src, [g.experiment_id], False),
        dataset_records(dst, [dest_exp], True),
    )
    assert sorted(want) == sorted(have)
    for key, record in want.items():
        for field, value in record.items():
            assert have[key][field] == value, f"dataset {key}: {field} differs"


def test_migrate_deep_copy_then_rerun_creates_nothing(
    source_server, dest_server, unique_name, tmp_path
):
    g = make_genai(source_server.url, unique_name)
    settings = _settings(source_server.url, dest_server.url, tmp_path, [g.experiment])
    first = sync(settings)
    assert [o.error for o in first.outcomes if not o.ok] == []
    done = sorted(
        (o.action.kind, o.action.op.value) for o in first.outcomes if o.action.kind in KINDS
    )
    assert done == [("dataset", "create"), ("logged_model", "create")]
    assert_copied(source_server.url, dest_server.url, g)
    files = logged_model_records(dest_server.url, [_dest_exp(dest_server.url, g.experiment)], True)
    assert set(files[g.model_id]["files"]) == {"MLmodel", "weights/w.bin"}
    assert (
        len(
            dataset_records(dest_server.url, [_dest_exp(dest_server.url, g.experiment)], True)[
                g.dataset_id
            ]["records"]
        )
        == 3
    )

    again = sync(settings)
    assert again.outcomes == []
    assert {a.op for a in again.plan.actions if a.kind in KINDS} == {Op.SAME}
    assert_copied(source_server.url, dest_server.url, g)


def _migrate(
    src: str, dst: str, tmp: Path, experiment: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    return migrate_forked(src, dst, f"sqlite:///{tmp / 'state.db'}", experiment, env=env)


def test_kill_mid_way_then_rerun_is_exact(source_server, dest_server, unique_name, tmp_path):
    g = make_genai(source_server.url, unique_name)
    dst = MlflowClient(dest_server.url)
    for point in ("upsert_dataset_records:1:after", "log_batch:2:after", "finalize_logged_model:1"):
        killed = _migrate(
            source_server.url, dest_server.url, tmp_path, g.experiment, env=kill_at(point)
        )
        assert killed.returncode == -9, (point, killed.stdout + killed.stderr)
    dest_exp = _dest_exp(dest_server.url, g.experiment)
    assert [str(lm.status) for lm in dst.search_logged_models([dest_exp])] == ["PENDING"]
    done = _migrate(source_server.url, dest_server.url, tmp_path, g.experiment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_copied(source_server.url, dest_server.url, g)
    again = _migrate(source_server.url, dest_server.url, tmp_path, g.experiment)
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(dst.search_logged_models([dest_exp])) == 1
    assert len(dst.search_datasets(experiment_ids=[dest_exp])) == 1
    assert_copied(source_server.url, dest_server.url, g)


def test_mirror_cycle_picks_up_new_logged_model_and_record(
    source_server, dest_server, unique_name, tmp_path
):
    from tests.fixtures.mirror import write_config

    g = make_genai(source_server.url, unique_name)
    config = write_config(
        tmp_path / "m.yaml",
        source_server.url,
        dest_server.url,
        [g.experiment],
        tmp_path / "state.db",
        workers=2,
    )
    first = run_forked("mirror", "--config", str(config), "--once")
    assert first.returncode == 0, first.stdout + first.stderr
    src = MlflowClient(source_server.url)
    now = int(time.time() * 1000)  # a change-only cycle finds the run by its end time
    run_id = src.create_run(g.experiment_id, run_name="second", start_time=now).info.run_id
    add_logged_model(src, g.experiment_id, run_id, "later", {"MLmodel": b"flavors: {later: 1}\n"})
    src.set_terminated(run_id, "FINISHED", end_time=now + 100)
    with tracking(source_server.url):
        mlflow.genai.datasets.get_dataset(dataset_id=g.dataset_id).merge_records(
            [{"inputs": {"question": "new?"}, "expectations": {"answer": "yes"}}]
        )
    second = run_forked("mirror", "--config", str(config), "--once")
    assert second.returncode == 0, second.stdout + second.stderr
    assert_copied(source_server.url, dest_server.url, g)
    dest_exp = _dest_exp(dest_server.url, g.experiment)
    assert len(MlflowClient(dest_server.url).search_logged_models([dest_exp])) == 2
    assert len(dataset_records(dest_server.url, [dest_exp], True)[g.dataset_id]["records"]) == 4


def _engine_pass(settings: Settings, src: Endpoint, dst: Endpoint):
    state = open_state(settings, src, dst, read_only=False)
    try:
        return run_pass(settings, src, dst, state, PassOptions())
    finally:
        state.close()


def test_destination_without_the_apis_lists_and_counts(
    source_server, dest_server, unique_name, tmp_path
):
    g = make_genai(source_server.url, unique_name)
    src = MlflowClient(source_server.url)
    add_logged_model(src, g.experiment_id, g.run_id, "second", {"MLmodel": b"x"})
    settings = _settings(source_server.url, dest_server.url, tmp_path, [g.experiment])
    dst = Endpoint(
        dest_server.url,
        caps=PLAIN_MLFLOW.without("logged_model", "dataset"),
        role="destination",
    )
    result = _engine_pass(settings, Endpoint(source_server.url, role="source"), dst)
    assert [o.error for o in result.outcomes if not o.ok] == []
    uncopied = {a.kind: a.details for a in result.plan.actions if a.op is Op.UNCOPIED}
    assert uncopied == {
        "logged_model": {
            "count": 2,
            "reason": "destination has no logged model API: mlflow",
            "group": g.experiment,
        },
        "dataset": {
            "count": 1,
            "reason": "destination has no evaluation dataset API: mlflow",
            "group": None,
        },
    }
    assert not result.plan.in_sync
    dest_exp = _dest_exp(dest_server.url, g.experiment)
    assert MlflowClient(dest_server.url).search_logged_models([dest_exp]) == []
    assert MlflowClient(dest_server.url).search_datasets(experiment_ids=[dest_exp]) == []


def _copies(url: str, model_id: str) -> list:
    client = MlflowClient(url)
    exps = [e.experiment_id for e in client.search_experiments()]
    return client.search_logged_models(
        exps, filter_string=f"tags.`mlflow_syncer.source_model_id` = '{model_id}'"
    )


def test_standalone_and_version_paths_share_one_copy(
    source_server, dest_server, unique_name, tmp_path
):
    g = make_genai(source_server.url, unique_name)
    src = MlflowClient(source_server.url)
    settings = _settings(source_server.url, dest_server.url, tmp_path, [g.experiment])
    assert [o.error for o in sync(settings).outcomes if not o.ok] == []
    # standalone first, then a version points at it: the version registers from the same copy
    src.create_registered_model(f"{unique_name}-reg")
    src.create_model_version(
        f"{unique_name}-reg", f"models:/{g.model_id}", run_id=g.run_id, model_id=g.model_id
    )
    later = sync(settings)
    assert [o.error for o in later.outcomes if not o.ok] == []
    assert [a.details.get("files") for a in later.plan.actions if a.kind == "model_version"] == [
        "logged_model"
    ]
    (copy,) = _copies(dest_server.url, g.model_id)
    version = MlflowClient(dest_server.url).get_model_version(f"{unique_name}-reg", "1")
    assert version.source == copy.artifact_location  # registered from the one copy

    # a version first (its experiment not selected: the copy goes to the model-files experiment),
    # then its experiment is selected: the standalone step completes that copy instead of making
    # another
    other = src.create_experiment(f"{unique_name}/other")
    run_id = src.create_run(other, run_name="elsewhere", start_time=T0).info.run_id
    model_id = add_logged_model(src, other, run_id, "behind-a-version", {"MLmodel": b"other"})
    src.set_terminated(run_id, "FINISHED", end_time=T0 + 5)
    src.create_registered_model(f"{unique_name}-other")
    src.create_model_version(
        f"{unique_name}-other", f"models:/{model_id}", run_id=run_id, model_id=model_id
    )
    by_version = sync(
        _settings(
            source_server.url, dest_server.url, tmp_path, [g.experiment], [f"{unique_name}-other"]
        )
    )
    assert [o.error for o in by_version.outcomes if not o.ok] == []
    assert len(_copies(dest_server.url, model_id)) == 1
    both = _settings(
        source_server.url, dest_server.url, tmp_path, [g.experiment, f"{unique_name}/other"]
    )
    result = sync(both)
    assert [o.error for o in result.outcomes if not o.ok] == []
    assert [
        (o.action.op, o.action.details.get("metrics"))
        for o in result.outcomes
        if o.action.kind == "logged_model"
    ] == [(Op.UPDATE, 2)]  # its metrics: their run is copied now
    (copy,) = _copies(dest_server.url, model_id)
    assert sorted(m.key for m in copy.metrics) == ["accuracy", "loss"]
    assert sync(both).outcomes == []
