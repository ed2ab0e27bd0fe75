"""The MLflow 3 objects on the newest MLflow 3.x our range allows, and across versions.

`.venv-newest` (scripts/setup_newest.sh, called by scripts/test.sh) holds mlflow-syncer with the
MLflow of constraints-newest.txt; this process runs on the pinned one (constraints.txt). Each test
runs the round trip of tests/fixtures/genai_roundtrip.py (traces, prompts, a logged model, an
evaluation dataset -> migrate -> deep comparison -> a rerun creates nothing -> `diff` exits 0), the
pinned ends being the session's prompt servers:
- newest client, newest servers (both `mlflow server`s and the syncer from .venv-newest);
- the pinned client copying from a newest source server (the objects the newest client wrote there
  for the first round trip: nothing is ever written to a source) into a pinned server;
- the newest client copying from a pinned source server into a newest server.
What the newest client does for all three runs in one .venv-newest process (`newest_steps`: one
start of that python and its MLflow, not three), each test asserting its step's summary.
A missing or broken .venv-newest fails these tests (never skips them).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from tests.fixtures import genai_roundtrip
from tests.fixtures.cli import cli_env
from tests.fixtures.procs import MlflowServer, installed_python, pinned_version, start_mlflow_server

ROOT = Path(__file__).resolve().parent.parent
# What the first migration does (kind:op -> count): 2 experiments, their 2 runs, 4 traces, 1 logged
# model, 1 dataset, 2 prompts with 5 versions.
CREATED = {
    "dataset:create": 1,
    "experiment:create": 2,
    "logged_model:create": 1,
    "prompt:create": 2,
    "prompt_version:create": 5,
    "run:create": 2,
    "trace:create": 4,
}


def newest_version() -> str:
    """The MLflow version constraints-newest.txt pins."""
    return pinned_version("constraints-newest.txt")


@pytest.fixture(scope="module")
def newest_python() -> Path:
    """.venv-newest's python, holding the pinned newest MLflow (the servers' /version and each
    step's summary check what it imports); fails the tests when it does not."""
    python = installed_python(".venv-newest", "setup_newest.sh", "constraints-newest.txt")
    assert mlflow.__version__ != newest_version(), (
        "this process should run the pinned MLflow, not the newest"
    )
    return python


@pytest.fixture(scope="module")
def newest_servers(
    newest_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MlflowServer, MlflowServer]]:
    """A source and a destination `mlflow server` of the newest MLflow (SQLite, one worker)."""
    servers: list[MlflowServer] = []
    try:
        for role in ("src", "dst"):
            root = tmp_path_factory.mktemp(f"newest-{role}")
            servers.append(start_mlflow_server(root, venv_bin=newest_python.parent))
            with urllib.request.urlopen(f"{servers[-1].url}/version", timeout=30) as answer:
                assert answer.read().decode().strip() == newest_version()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def pinned_servers(prompt_source: MlflowServer, prompt_dest: MlflowServer) -> tuple:
    """A source and a destination of the pinned MLflow: the session's prompt servers
    (tests/fixtures/prompts.py), since the prompts these tests make are workspace-wide objects,
    which the session's `source_server` and `dest_server` must not gain (other tests count every
    prompt); every test of those servers selects its own prompts by name."""
    return prompt_source, prompt_dest


def _driver(python: Path, *args: str) -> list[dict]:
    """Run tests/fixtures/genai_roundtrip.py under `python` (this checkout on its path); its JSON
    summaries, one per step."""
    done = subprocess.run(
        [str(python), "-m", "tests.fixtures.genai_roundtrip", *args],
        cwd=ROOT,
        env=cli_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def newest_steps(
    newest_python, newest_servers, pinned_servers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, dict]]:
    """What the newest client does, in one .venv-newest process: (the step's prefix, its summary) by
    step. `round_trip`: build and copy between the newest servers (the pinned client copies the same
    objects from that source); `copy`: from the pinned source, whose objects the pinned client wrote
    first, into the newest destination."""
    (src, dst), (pinned_source, _) = newest_servers, pinned_servers
    tmp = tmp_path_factory.mktemp("newest")
    prefixes = {t: f"t-{uuid.uuid4().hex[:10]}" for t in ("round_trip", "copy")}
    built = genai_roundtrip.build(pinned_source.url, prefixes["copy"])
    assert built["mlflow"] == mlflow.__version__
    summaries = _driver(
        newest_python,
        *("build-copy", src.url, dst.url, str(tmp / "round-trip.db"), prefixes["round_trip"]),
        *("+", "copy", pinned_source.url, dst.url, str(tmp / "copy.db"), prefixes["copy"]),
    )
    return dict(zip(prefixes, zip(prefixes.values(), summaries, strict=True), strict=True))


def _step(newest_steps: dict, test: str) -> tuple[str, dict]:
    """The test's prefix and its step's summary, once the step ended without an error."""
    prefix, summary = newest_steps[test]
    assert "error" not in summary, summary["error"]
    return prefix, summary


def _assert_round_trip(summary: dict, version: str) -> None:
    assert summary["mlflow"] == version
    assert summary["created"] == CREATED
    assert summary["traces_compared"] == 4
    assert (summary["rerun_outcomes"], summary["rerun_mutating"], summary["rerun_in_sync"]) == (
        0,
        0,
        True,
    )
    assert summary["diff_rc"] == 0, summary["diff_output"]


def test_newest_client_and_servers_round_trip(newest_steps):
    _, summary = _step(newest_steps, "round_trip")
    assert summary["built"] == newest_version()
    _assert_round_trip(summary, newest_version())


def test_pinned_client_copies_from_a_newest_server(
    newest_steps, newest_servers, pinned_servers, tmp_path
):
    (src, _), (_, dest_server) = newest_servers, pinned_servers
    prefix, round_trip = _step(newest_steps, "round_trip")
    assert round_trip["built"] == newest_version()  # written by the newest client
    summary = genai_roundtrip.copy(src.url, dest_server.url, str(tmp_path / "state.db"), prefix)
    _assert_round_trip(summary, mlflow.__version__)


def test_newest_client_copies_from_a_pinned_server(newest_steps):
    _, summary = _step(newest_steps, "copy")
    assert summary["built"] is None  # built by the pinned client (`newest_steps`)
    _assert_round_trip(summary, newest_version())
