"""Diff reports show registered-model differences: a version missing in the destination, an alias
moved."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from syncer.config import EndpointConfig, Settings
from syncer.engine.sync import sync
from tests.fixtures.cli import run_forked
from tests.fixtures.models import make_models


def test_diff_reports_missing_model_version_and_moved_alias(
    source_server, dest_server, unique_name, tmp_path
):
    m = make_models(source_server.url, unique_name)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    settings = Settings(
        source=EndpointConfig(tracking_uri=source_server.url),
        destination=EndpointConfig(tracking_uri=dest_server.url),
        state=state,
        experiments=[m.experiment],
    )
    assert all(o.ok for o in sync(settings).outcomes)
    src = MlflowClient(source_server.url)
    second = src.get_model_version(m.churn, "2")
    src.create_model_version(m.churn, second.source, run_id=second.run_id, description="third")
    src.set_registered_model_alias(m.churn, "champion", "1")  # was 2

    args = [
        "diff",
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        state,
        "--experiments",
        m.experiment,
    ]
    text = run_forked(*args)
    assert text.returncode == 1, text.stderr
    lines = text.stdout.splitlines()
    assert any(line.startswith(f"+ model_version {m.churn}/v3") for line in lines), text.stdout
    model_line = next(line for line in lines if line.startswith("* model") and m.churn in line)
    assert "aliases: champion" in model_line
    assert any(line.startswith(f"= model_version {m.churn}/v1") for line in lines)

    out = tmp_path / "report.json"
    res = run_forked(*args, "--format", "json", "--output", str(out))
    assert res.returncode == 1, res.stderr
    objects = json.loads(out.read_text())["objects"]
    by_label = {(o["kind"], o["label"]): o for o in objects}
    assert by_label[("model_version", f"{m.churn}/v3")]["sigil"] == "+"
    assert by_label[("model", m.churn)]["details"]["aliases"] == ["champion"]

    applied = sync(settings)
    assert {(o.action.kind, o.action.label) for o in applied.outcomes if o.ok} == {
        ("model_version", f"{m.churn}/v3"),
        ("model", m.churn),
    }
    dst = MlflowClient(dest_server.url)
    assert dst.get_registered_model(m.churn).aliases["champion"] == "1"
    after = run_forked(*args)
    assert after.returncode == 0, after.stdout
