"""The `mlflow-syncer migrate` command as a user runs it: a process of its own against real
servers (forked from one that imported the syncer: tests/fixtures/cli.py `run_forked`; `python -m
syncer` started anew is run by tests/test_config.py and tests/test_unity_catalog.py)."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from tests.compare import assert_same
from tests.fixtures.cli import run_forked


def test_migrate_command_summary_json_logs_and_rerun(
    source_server, dest_server, unique_name, workload_factory, tmp_path
):
    src = MlflowClient(source_server.url)
    w = workload_factory(src, unique_name, runs_per_experiment=2)
    args = [
        "migrate",
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        "--experiments",
        f"{unique_name}/*",
        "--workers",
        "4",
        "--log-format",
        "json",
        "--log-level",
        "info",
    ]
    first = run_forked(*args)
    assert first.returncode == 0, first.stderr
    assert "runs created" in first.stdout and "Traceback" not in first.stderr
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "planned" and e.get("run_create") == len(w.runs) for e in events)
    assert_same(src, MlflowClient(dest_server.url), w.experiments)

    second = run_forked(*args)
    assert second.returncode == 0, second.stderr
    created = next(line for line in second.stdout.splitlines() if "runs created" in line)
    assert created.split("│")[2].strip() == "0"


def test_dry_run_writes_nothing_and_lists_actions(
    source_server, dest_server, unique_name, workload_factory, tmp_path
):
    src = MlflowClient(source_server.url)
    w = workload_factory(src, unique_name, runs_per_experiment=1)
    state = tmp_path / "state.db"
    res = run_forked(
        "migrate",
        "--dry-run",
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        f"sqlite:///{state}",
        "--experiments",
        f"{unique_name}/*",
    )
    assert res.returncode == 1, res.stderr  # differences found: the same exit code as `diff`
    assert sum(line.startswith("+ run") for line in res.stdout.splitlines()) == len(w.runs)
    assert not state.exists()
    assert MlflowClient(dest_server.url).get_experiment_by_name(w.experiments[0]) is None
