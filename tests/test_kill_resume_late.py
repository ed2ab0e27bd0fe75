"""SIGKILL a real `mlflow-syncer migrate` at exact points of logging dataset inputs, uploading
files, ending runs, writing the fingerprint marker and committing state; every rerun must converge
to an exact copy (tests/fixtures/killpoints.py; the earlier points are in
tests/test_kill_resume.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.killpoints import kill_source, kill_then_rerun

# (point, phase): op:N[:after]
KILL_POINTS = [
    "log_inputs:2:after",
    "log_artifact:1",  # artifact upload
    "log_artifact:1:after",
    "log_artifact:7",  # (a kill after a run's 3rd file: tests/test_conformance.py)
    "set_terminated:1:after",  # finishing a run
    "log_batch:6",  # a run's last batch, which carries its fingerprint marker
    "log_batch:5:after",
    "state_record:1:after",  # state commit
    "state_record:3",
    "state_record:5:after",
    "state_record:8:after",
]


@pytest.fixture(scope="module")
def source(source_server):
    """One small workload in the source for every kill point of this module."""
    return kill_source(source_server)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_then_rerun_converges(point, source, source_server, dest_server, tmp_path):
    kill_then_rerun(point, source, source_server, dest_server, tmp_path)
