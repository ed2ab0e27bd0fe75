"""`state export`: the id map joins back to the destination, reads the same without the state store,
and the docs/OPERATIONS.md's recipe rewrites `runs:/` and `models:/` URIs with it. Real
`mlflow-syncer` processes (tests.fixtures.cli.run_forked)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.fixtures.cli import run_forked
from tests.fixtures.models import make_models

RECIPE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "OPERATIONS.md"
TAG = {"experiment": "mlflow_syncer.source_experiment_id", "run": "mlflow_syncer.source_run_id"}


@pytest.fixture(scope="module")
def migrated(source_server, dest_server, tmp_path_factory):
    """A source with experiments, runs, two registered models and three versions, migrated once."""
    tmp = tmp_path_factory.mktemp("id-map")
    m = make_models(source_server.url, f"idmap-{tmp.name[-6:]}")
    args = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        f"sqlite:///{tmp / 'state.db'}",
        "--experiments",
        f"{m.prefix}/*",
    ]
    result = run_forked("migrate", *args, "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    return m, args, tmp


def _export(*args: str) -> str:
    result = run_forked("state", "export", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _joins_back(row: dict, src: MlflowClient, dst: MlflowClient) -> None:
    kind, source_id, dest_id = row["kind"], row["source_id"], row["dest_id"]
    if kind == "experiment":
        assert dst.get_experiment(dest_id).tags[TAG[kind]] == source_id
        assert dst.get_experiment(dest_id).name == row["name"] == src.get_experiment(source_id).name
    elif kind == "run":
        assert dst.get_run(dest_id).data.tags[TAG[kind]] == source_id
        assert src.get_run(source_id).info.run_name == row["name"].rsplit("/", 1)[1]
    elif kind == "model":
        assert dst.get_registered_model(dest_id).tags["mlflow_syncer.source_model"] == source_id
    elif kind == "logged_model":
        assert dst.get_logged_model(dest_id).tags["mlflow_syncer.source_model_id"] == source_id
        assert src.get_logged_model(source_id).name == row["name"].rsplit("/", 1)[-1].split(" ")[0]
    else:
        tags = dst.get_model_version(*dest_id.split("/")).tags
        assert (
            f"{tags['mlflow_syncer.source_model']}/{tags['mlflow_syncer.source_version']}"
            == source_id
        )
        assert src.get_model_version(*source_id.split("/")).version == source_id.split("/")[1]


def test_export_joins_back_to_the_destination(migrated, source_server, dest_server):
    m, args, _ = migrated
    rows = list(csv.DictReader(io.StringIO(_export(*args))))
    kinds = [r["kind"] for r in rows]
    assert (
        kinds
        == ["experiment"] * 2
        + ["run"] * 3
        + ["logged_model"]
        + ["model"] * 2
        + ["model_version"] * 3
    ), kinds
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    for row in rows:
        assert row["status"] == "done" and row["source"] and row["destination"], row
        assert row["source"] != row["destination"] and "@" not in row["source"] + row["destination"]
        _joins_back(row, src, dst)
    assert {r["source_id"] for r in rows if r["kind"] == "model"} == {m.churn, m.loose}


def test_from_destination_gives_the_same_rows_without_the_state_store(migrated, tmp_path):
    _, args, tmp = migrated
    stored = [json.loads(line) for line in _export(*args, "--format", "jsonl").splitlines()]
    missing = tmp_path / "never-created.db"
    no_state = [a if not a.startswith("sqlite:///") else f"sqlite:///{missing}" for a in args]
    refused = run_forked("state", "export", *no_state)
    assert refused.returncode == 2 and "--from-destination" in refused.stderr
    rebuilt = json.loads(_export(*no_state, "--format", "json", "--from-destination"))
    assert rebuilt == stored and len(rebuilt) == 11
    assert not missing.exists() and list(tmp_path.iterdir()) == []
    out = tmp_path / "runs.jsonl"
    result = run_forked(
        "state",
        "export",
        *args,
        "--kind",
        "run",
        "model_version",
        "--format",
        "jsonl",
        "--output",
        str(out),
    )
    assert result.returncode == 0 and result.stdout == "" and "6 objects mapped" in result.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        r for r in stored if r["kind"] in ("run", "model_version")
    ]


def _recipe() -> str:
    text = RECIPE_PAGE.read_text()
    return re.search(r"<!-- rewrite-ids.py -->\n```python\n(.*?)```", text, re.S)[1]


def test_readme_recipe_rewrites_uris(migrated, tmp_path):
    m, args, _ = migrated
    (tmp_path / "idmap.csv").write_text(_export(*args))
    rows = list(csv.DictReader((tmp_path / "idmap.csv").open()))
    run = next(r for r in rows if r["kind"] == "run")
    version = next(
        r for r in rows if r["kind"] == "model_version" and r["source_id"].endswith("/2")
    )
    notebook = tmp_path / "notebook.py"
    notebook.write_text(
        f'load("runs:/{run["source_id"]}/model")\nload("models:/{version["source_id"]}")\n'
        f'load("models:/{m.churn}@champion")  # untouched: runs:/{"0" * 32}/x\n'
    )
    (tmp_path / "rewrite-ids.py").write_text(_recipe())
    subprocess.run(
        [sys.executable, "rewrite-ids.py", "idmap.csv", "notebook.py"], cwd=tmp_path, check=True
    )
    assert notebook.read_text() == (
        f'load("runs:/{run["dest_id"]}/model")\nload("models:/{version["dest_id"]}")\n'
        f'load("models:/{m.churn}@champion")  # untouched: runs:/{"0" * 32}/x\n'
    )
