"""The test oracle (tests/compare.py) itself: a side it cannot read is an error, never "equal"; a
missing metric point, a changed tag or alias, a run, model version or logged model only in the
destination, an empty comparison:
each fails it."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.compare import ReadError, assert_same, snapshot
from tests.fixtures.sqlite_stores import sqlite_store

EXP = "oracle/exp"


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[MlflowClient, MlflowClient, dict[str, str]]:
    """A SQLite store with a run holding one artifact file and one holding none, copied."""
    src_uri, dst_uri = sqlite_store(tmp_path / "src.db"), sqlite_store(tmp_path / "dst.db")
    src = MlflowClient(src_uri)
    exp = src.create_experiment(EXP, artifact_location=str(tmp_path / "src-art"))
    runs = {}
    for name in ("with-file", "without-files"):
        run = src.create_run(exp, run_name=name)
        runs[name] = run.info.run_id
        src.set_terminated(run.info.run_id, "FINISHED")
    model = tmp_path / "model.txt"
    model.write_text("weights\n")
    src.log_artifact(runs["with-file"], str(model), "out")
    result = sync(
        Settings(
            source=EndpointConfig(tracking_uri=src_uri),
            destination=EndpointConfig(
                tracking_uri=dst_uri, artifact_root=str(tmp_path / "dst-art")
            ),
            state=f"sqlite:///{tmp_path / 'state.db'}",
            experiments=[EXP],
        )
    )
    assert not result.failed
    return src, MlflowClient(dst_uri), runs


def _file_on_disk(client: MlflowClient, run_id: str, path: str) -> Path:
    return Path(unquote(urlparse(client.get_run(run_id).info.artifact_uri).path)) / path


def _copy_of(dst: MlflowClient, source_run_id: str) -> str:
    exp = dst.get_experiment_by_name(EXP).experiment_id
    (run,) = dst.search_runs([exp], f"tags.`mlflow_syncer.source_run_id` = '{source_run_id}'")
    return run.info.run_id


def _lose_file(client: MlflowClient, run_id: str, path: str) -> None:
    """The store still lists the file, but its bytes are gone (a dangling link)."""
    where = _file_on_disk(client, run_id, path)
    where.unlink()
    os.symlink(where.parent / "gone-from-disk", where)


def test_a_run_without_artifacts_compares_as_empty_and_the_copy_as_equal(migrated):
    src, dst, runs = migrated
    assert_same(src, dst, [EXP])
    records = snapshot(src, [EXP], dest=False)[EXP]["runs"]
    assert records[runs["without-files"]]["artifacts"] == {}
    assert list(records[runs["with-file"]]["artifacts"]) == ["out/model.txt"]


def test_an_unreadable_destination_artifact_store_is_an_error_naming_side_and_run(migrated):
    src, dst, runs = migrated
    copy = _copy_of(dst, runs["with-file"])
    _lose_file(dst, copy, "out/model.txt")
    with pytest.raises(
        ReadError, match=rf"run {copy} artifact listing of 'out' from the destination"
    ):
        assert_same(src, dst, [EXP])


def test_both_sides_unreadable_never_compare_equal(migrated):
    src, dst, runs = migrated
    _lose_file(src, runs["with-file"], "out/model.txt")
    _lose_file(dst, _copy_of(dst, runs["with-file"]), "out/model.txt")
    source_side = f"run {runs['with-file']} artifact listing of 'out' from the source"
    with pytest.raises(ReadError, match=re.escape(source_side)):
        assert_same(src, dst, [EXP])


# -- the oracle against real servers: a source and a copy written by hand (no syncer involved) -----

T0 = 1_700_000_000_000
POINTS = [
    Metric("loss", 0.5, T0, 0),
    Metric("loss", 0.25, T0 + 10, 1),
    Metric("loss", 0.125, T0 + 20, 2),
]


def _side_of_pair(
    client: MlflowClient, name: str, tmp: Path, copy_of: dict[str, str] | None, points: list[Metric]
) -> dict[str, str]:
    """One experiment with one finished run (params, tags, a metric history, one file) and a
    registered model version made from that run. With `copy_of` (source ids), written as a copy:
    provenance tags."""
    exp = client.create_experiment(name, tags={"team": "a"})
    tags = {"stage": "dev", **({"mlflow_syncer.source_run_id": copy_of["run"]} if copy_of else {})}
    run = client.create_run(exp, start_time=T0, run_name="train", tags=tags)
    rid = run.info.run_id
    client.log_batch(rid, metrics=points, params=[Param("lr", "0.1")])
    (tmp / "weights.txt").write_text("weights\n")
    client.log_artifact(rid, str(tmp / "weights.txt"), "model")
    client.set_terminated(rid, "FINISHED", end_time=T0 + 100)
    model = name.replace("/", "-")
    client.create_registered_model(model, tags={"owner": "ann"}, description="churn")
    version_tags = {"quality": "ok", **({"mlflow_syncer.source_version": "1"} if copy_of else {})}
    client.create_model_version(
        model, f"{run.info.artifact_uri}/model", run_id=rid, tags=version_tags, description="first"
    )
    client.set_registered_model_alias(model, "champion", "1")
    return {"experiment": exp, "run": rid, "model": model}


@pytest.fixture
def pair(
    source_server, dest_server, unique_name, tmp_path
) -> tuple[MlflowClient, MlflowClient, dict]:
    """A source and an exact hand-written copy in the session servers."""
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/oracle"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _side_of_pair(src, name, tmp_path / "a", None, POINTS)
    b = _side_of_pair(dst, name, tmp_path / "b", a, POINTS)
    return src, dst, {"name": name, "src": a, "dst": b}


def test_an_exact_copy_compares_equal_with_its_model(pair):
    src, dst, ids = pair
    assert_same(src, dst, [ids["name"]])
    assert snapshot(dst, [ids["name"]], dest=True) == snapshot(src, [ids["name"]], dest=False)


def test_a_missing_metric_point_is_a_difference(source_server, dest_server, unique_name, tmp_path):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/points"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _side_of_pair(src, name, tmp_path / "a", None, POINTS)
    _side_of_pair(
        dst, name, tmp_path / "b", a, POINTS[:-1]
    )  # the latest value is there, a point is not
    with pytest.raises(AssertionError, match="field metrics differs"):
        assert_same(src, dst, [name])


def test_a_changed_run_tag_is_a_difference(pair):
    src, dst, ids = pair
    dst.set_tag(ids["dst"]["run"], "stage", "prod")
    with pytest.raises(AssertionError, match="field tags differs"):
        assert_same(src, dst, [ids["name"]])


def test_a_run_only_in_the_destination_is_a_difference(pair):
    src, dst, ids = pair
    extra = dst.create_run(ids["dst"]["experiment"], run_name="stray").info.run_id
    with pytest.raises(
        AssertionError, match=rf"only in the destination \['only in the destination: {extra}'\]"
    ):
        assert_same(src, dst, [ids["name"]])


def test_a_model_version_only_in_the_destination_is_a_difference(pair):
    src, dst, ids = pair
    run = dst.get_run(ids["dst"]["run"])
    dst.create_model_version(
        ids["dst"]["model"], f"{run.info.artifact_uri}/model", run_id=run.info.run_id
    )
    with pytest.raises(
        AssertionError, match=r"only in the destination \['only in the destination: 2'\]"
    ):
        assert_same(src, dst, [ids["name"]])


def test_a_changed_alias_is_a_difference(pair):
    src, dst, ids = pair
    dst.delete_registered_model_alias(ids["dst"]["model"], "champion")
    with pytest.raises(AssertionError, match="aliases differs"):
        assert_same(src, dst, [ids["name"]])


def test_an_unreadable_destination_is_an_error_naming_it(pair, dest_server):
    src, _, ids = pair
    gone = MlflowClient(f"{dest_server.url}/no-such-server")
    with pytest.raises(ReadError, match=rf"experiment '{ids['name']}' from the destination"):
        assert_same(src, gone, [ids["name"]])


def test_two_empty_experiments_prove_nothing_unless_told(source_server, dest_server, unique_name):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    name = f"{unique_name}/empty"
    src.create_experiment(name)
    dst.create_experiment(name)
    with pytest.raises(AssertionError, match="compared 0 runs, fewer than 1"):
        assert_same(src, dst, [name])
    assert_same(src, dst, [name], min_runs=0)


def test_a_logged_model_only_in_the_destination_is_a_difference(pair):
    src, dst, ids = pair
    stray = dst.create_logged_model(ids["dst"]["experiment"], name="stray").model_id
    with pytest.raises(
        AssertionError, match=rf"logged models differ: .* \['only in the destination: {stray}'\]"
    ):
        assert_same(src, dst, [ids["name"]])
    assert_same(src, dst, [ids["name"]], kinds=("models", "traces", "datasets"))
