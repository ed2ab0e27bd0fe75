"""The test oracle (tests/compare.py) itself: a side it cannot read is an error, never "equal"."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.compare import ReadError, assert_same, snapshot

EXP = "oracle/exp"


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[MlflowClient, MlflowClient, dict[str, str]]:
    """A SQLite store with a run holding one artifact file and a run holding none, copied into another."""
    src_uri, dst_uri = f"sqlite:///{tmp_path / 'src.db'}", f"sqlite:///{tmp_path / 'dst.db'}"
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
    result = sync(Settings(source=EndpointConfig(tracking_uri=src_uri),
                           destination=EndpointConfig(tracking_uri=dst_uri, artifact_root=str(tmp_path / "dst-art")),
                           state=f"sqlite:///{tmp_path / 'state.db'}", experiments=[EXP]))
    assert not result.failed
    return src, MlflowClient(dst_uri), runs


def _file_on_disk(client: MlflowClient, run_id: str, path: str) -> Path:
    return Path(unquote(urlparse(client.get_run(run_id).info.artifact_uri).path)) / path


def _copy_of(dst: MlflowClient, source_run_id: str) -> str:
    exp = dst.get_experiment_by_name(EXP).experiment_id
    (run,) = dst.search_runs([exp], f"tags.`mlflow_syncer.source_run_id` = '{source_run_id}'")
    return run.info.run_id


def _lose_file(client: MlflowClient, run_id: str, path: str) -> None:
    """The store still lists the file, but its bytes are gone (a dangling link where the file was)."""
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
    with pytest.raises(ReadError, match=rf"run {copy} artifact listing of 'out' from the destination"):
        assert_same(src, dst, [EXP])


def test_both_sides_unreadable_never_compare_equal(migrated):
    src, dst, runs = migrated
    _lose_file(src, runs["with-file"], "out/model.txt")
    _lose_file(dst, _copy_of(dst, runs["with-file"]), "out/model.txt")
    source_side = f"run {runs['with-file']} artifact listing of 'out' from the source"
    with pytest.raises(ReadError, match=re.escape(source_side)):
        assert_same(src, dst, [EXP])
