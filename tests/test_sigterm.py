"""SIGTERM is handled like SIGINT: a real `mlflow-syncer migrate` process (forked from one that
imported the syncer, tests/killhook/forkserver.py) sent SIGTERM at a known point (the kill-point
hook, tests/killhook) stops at its next unit with one line on stderr and exit 143; the same command
run again converges to an exact copy (tests/compare.py), with no duplicate run. A service started
anew and sent SIGTERM: tests/test_mirror_service.py."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.core.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED
from tests.compare import snapshot
from tests.fixtures.cli import cli_env, kill_at, run_forked, write_config
from tests.fixtures.workload import make_workload


@pytest.fixture(scope="module")
def term_source(source_server):
    client = MlflowClient(source_server.url)
    prefix = f"term-{uuid.uuid4().hex[:8]}"
    w = make_workload(client, prefix, runs_per_experiment=2)
    return prefix, w, snapshot(client, w.experiments, dest=False)


def _stopped_line(result, name: str, code: int, command: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [
        x for x in result.stderr.strip().splitlines() if not x.startswith("{")
    ]  # JSON log records aside
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"mlflow-syncer: stopped by {name}; finished work is saved, run again to resume: "
        f"mlflow-syncer {command} --config "
    ), lines[0]


def test_sigterm_mid_migrate_then_rerun_converges(
    term_source, source_server, dest_server, tmp_path
):
    signame, point, code = "SIGTERM", "log_batch:2:after", EXIT_TERMINATED
    prefix, w, expected = term_source
    tag = f"sig-{signame.lower()}"
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": dest_server.url},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{prefix}/*"],
        experiment_names=[{"match": f"^{prefix}/", "replace": f"{tag}/{prefix}/"}],
        workers=2,
        log_level="warning",
    )
    env = cli_env(**kill_at(point), MLFLOW_SYNCER_TEST_KILL_SIGNAL=signame)
    stopped = run_forked("migrate", "--config", str(config), "--no-progress", env=env)
    _stopped_line(stopped, signame, code, "migrate")

    dst = MlflowClient(dest_server.url)
    names = [f"{tag}/{n}" for n in w.experiments]
    partial = [n for n in names if dst.get_experiment_by_name(n)]
    copied = (
        dst.search_runs([dst.get_experiment_by_name(n).experiment_id for n in partial])
        if partial
        else []
    )
    total = sum(len(e["runs"]) for e in expected.values())
    assert len(copied) < total, "the stop came after everything was copied: the test proves nothing"

    rerun = run_forked("migrate", "--config", str(config), "--no-progress")
    assert rerun.returncode == EXIT_OK, rerun.stdout + rerun.stderr
    got = snapshot(dst, names, dest=True)  # raises on a duplicate live copy of a source run
    for src_name, dst_name in zip(w.experiments, names, strict=True):
        assert got[dst_name] == expected[src_name], f"{dst_name} differs after {signame} at {point}"
    live = dst.search_runs(
        [dst.get_experiment_by_name(n).experiment_id for n in names],
        run_view_type=ViewType.ACTIVE_ONLY,
    )
    assert len(live) == total
    diff = run_forked("diff", "--config", str(config))
    assert diff.returncode == EXIT_OK, diff.stdout + diff.stderr


def test_signals_mid_diff_and_mirror_once(term_source, source_server, dest_server, tmp_path):
    """Read-only `diff` (SIGTERM and SIGINT) and one `mirror --once` cycle stop the same way."""
    prefix, _w, _expected = term_source
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": dest_server.url},
        state=f"sqlite:///{tmp_path / 'state.db'}",
        experiments=[f"{prefix}/*"],
        experiment_names=[{"match": f"^{prefix}/", "replace": f"m-{prefix}/"}],
        log_level="warning",
    )
    env = cli_env(**kill_at("search_runs:1"), MLFLOW_SYNCER_TEST_KILL_SIGNAL="SIGTERM")
    _stopped_line(
        run_forked("diff", "--config", str(config), env=env), "SIGTERM", EXIT_TERMINATED, "diff"
    )
    env = cli_env(**kill_at("search_runs:1"), MLFLOW_SYNCER_TEST_KILL_SIGNAL="SIGINT")
    _stopped_line(
        run_forked("diff", "--config", str(config), env=env), "SIGINT", EXIT_INTERRUPTED, "diff"
    )
    env = cli_env(**kill_at("log_batch:1:after"), MLFLOW_SYNCER_TEST_KILL_SIGNAL="SIGTERM")
    _stopped_line(
        run_forked("mirror", "--once", "--config", str(config), env=env),
        "SIGTERM",
        EXIT_TERMINATED,
        "mirror --once",
    )
    again = run_forked("mirror", "--once", "--config", str(config))
    assert again.returncode == EXIT_OK, again.stdout + again.stderr
    assert again.stdout.startswith("mirror cycle: ok"), again.stdout
