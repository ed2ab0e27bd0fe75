"""SIGKILL a real `mlflow-syncer migrate` at exact points of creating experiments and runs, reading
metric histories and writing metric batches; every rerun must converge to an exact copy
(tests/fixtures/killpoints.py; the later points are in tests/test_kill_resume_late.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.killpoints import kill_source, kill_then_rerun

# (point, phase): op:N[:after]
KILL_POINTS = [
    "create_experiment:1",  # experiment creation
    "create_experiment:1:after",
    "create_experiment:2:after",
    "create_run:1",  # run creation
    "create_run:1:after",
    "create_run:3:after",
    "get_metric_history_bulk:1:after",  # metric reads (histories of several runs per request)
    "log_batch:1",
    "log_batch:1:after",
    "log_batch:2:after",
    "log_batch:3",
    "log_batch:4:after",
]


@pytest.fixture(scope="module")
def source(source_server):
    """One small workload in the source for every kill point of this module."""
    return kill_source(source_server)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_then_rerun_converges(point, source, source_server, dest_server, tmp_path):
    kill_then_rerun(point, source, source_server, dest_server, tmp_path)
