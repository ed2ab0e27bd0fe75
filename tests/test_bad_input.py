"""Bad input: one clear line on stderr, no traceback, exit code 2, nothing written anywhere.

Each command is a real `mlflow-syncer` process forked from one that imported MLflow once
(tests.fixtures.cli.run_forked); tests/test_cli_options.py starts the command anew for the same
one-line refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from syncer.state.schema_upgrade import head_revision
from tests.fixtures.cli import cli_env, fork_with, run_forked
from tests.fixtures.faultproxy import FaultConfig
from tests.fixtures.procs import free_port
from tests.fixtures.workload import make_workload

FAST_FAIL = {"MLFLOW_SYNCER_RETRY_ATTEMPTS": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
fork_with(**FAST_FAIL)


@pytest.fixture(scope="module")
def small_source(source_server):
    import uuid

    prefix = f"bad-{uuid.uuid4().hex[:8]}"
    make_workload(MlflowClient(source_server.url), prefix, runs_per_experiment=1)
    return prefix


def _fails_cleanly(result, *expected: str) -> str:
    err = result.stderr.strip()
    assert result.returncode == 2, f"exit {result.returncode}: {result.stdout}\n{err}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlflow-syncer: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _nothing_written(dest_url: str, prefix: str, state: Path | None = None) -> None:
    dst = MlflowClient(dest_url)
    assert not dst.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    if state is not None:
        assert not state.exists() or not _objects(state)


def _objects(state: Path) -> list:
    with sqlite3.connect(state) as db:
        try:
            return db.execute("SELECT * FROM objects").fetchall()
        except sqlite3.OperationalError:
            return []


def _migrate(tmp_path: Path, config_text: str, *extra: str, env: dict | None = None):
    config = tmp_path / "c.yaml"
    config.write_text(config_text)
    return run_forked(
        "migrate", "--config", str(config), "--no-progress", *extra, env=env or cli_env()
    )


def _config(source: str, dest: str, state: Path, prefix: str, extra: str = "") -> str:
    return (
        f"source:\n  tracking_uri: {source}\ndestination:\n  tracking_uri: {dest}\n"
        f"state: sqlite:///{state}\nexperiments: ['{prefix}/*']\n{extra}"
    )


CONFIG_ERRORS = [
    (
        "destinaton:\n  tracking_uri: x\n",
        "line 1: unknown option 'destinaton' (did you mean 'destination'?)",
    ),
    (
        "source:\n  tracking_url: x\n",
        "line 2: unknown option 'source.tracking_url' (did you mean 'source.tracking_uri'?)",
    ),
    ("worker: 3\n", "(did you mean 'workers'?)"),
    ("workers: many\n", "line 1: option 'workers': Input should be a valid integer"),
    ("workers: 1000\n", "option 'workers': Input should be less than or equal to 64"),
    ("deleted: sometimes\n", "option 'deleted'"),
    ("experiment_names:\n  - match: '([a-'\n    replace: x\n", "invalid regular expression '([a-'"),
    ("experiment_names:\n  - match: a\n", "missing option 'experiment_names.0.replace'"),
    (
        "state: postgresql://u:${NO_SUCH_PASSWORD_VAR}@127.0.0.1/db\n",
        "environment variable NO_SUCH_PASSWORD_VAR is not set",
    ),
    ("state: postgresql://u:plaintext@127.0.0.1/db\n", "a password is written in the file"),
    ("source: [1, 2\n", "is not valid YAML at line"),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_ERRORS, ids=[m[:30] for _, m in CONFIG_ERRORS])
def test_config_errors(text, message, tmp_path):
    line = _fails_cleanly(_migrate(tmp_path, text), message)
    assert "plaintext" not in line
    if "did you mean" in message:
        _fails_cleanly(run_forked("check-config", "--config", str(tmp_path / "c.yaml")), message)


def test_unreachable_and_wrong_uris(source_server, dest_server, small_source, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    env = cli_env(**FAST_FAIL)
    cases = [
        ((source_server.url, dead), ("destination", "unreachable", "connection refused")),
        ((dead, dest_server.url), ("source", "unreachable", "connection refused")),
        ((source_server.url, "nosuchscheme://x"), ("destination",)),
        ((source_server.url, f"{dest_server.url}/not/mlflow"), ("destination",)),
    ]
    for i, ((source, dest), expected) in enumerate(cases):
        state = tmp_path / f"s{i}.db"
        _fails_cleanly(
            _migrate(tmp_path, _config(source, dest, state, small_source), env=env), *expected
        )
        _nothing_written(dest_server.url, small_source, state)


@pytest.mark.parametrize("status", [401, 403])
def test_destination_refusing_credentials(
    status, source_server, dest_server, small_source, fault_proxy, tmp_path
):
    proxy = fault_proxy(dest_server.url, FaultConfig(status_all=status))
    state = tmp_path / "s.db"
    line = _fails_cleanly(
        _migrate(tmp_path, _config(source_server.url, proxy.url, state, small_source)),
        "destination",
    )
    assert str(status) in line or "PERMISSION_DENIED" in line
    _nothing_written(dest_server.url, small_source, state)


def test_corrupt_state_store(source_server, dest_server, small_source, tmp_path):
    state = tmp_path / "s.db"
    state.write_bytes(b"this is not a database at all" * 100)
    _fails_cleanly(
        _migrate(tmp_path, _config(source_server.url, dest_server.url, state, small_source)),
        "state store",
        "unusable",
    )
    _nothing_written(dest_server.url, small_source)
    assert state.read_bytes().startswith(b"this is not a database")


def test_too_new_state_store(source_server, dest_server, small_source, tmp_path):
    state = tmp_path / "s.db"
    with sqlite3.connect(state) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES ('0099')")
    _fails_cleanly(
        _migrate(tmp_path, _config(source_server.url, dest_server.url, state, small_source)),
        "schema 0099 is newer",
        f"knows up to {head_revision()}",
    )
    _nothing_written(dest_server.url, small_source)


def test_state_store_of_another_pair(source_server, dest_server, small_source, tmp_path):
    state = tmp_path / "s.db"
    # copies out of _nothing_written's sight
    rename = "experiment_names:\n  - {match: '^', replace: 'pair-'}\n"
    ok = _migrate(
        tmp_path, _config(source_server.url, dest_server.url, state, small_source, rename)
    )
    assert ok.returncode == 0, ok.stderr
    other = f"sqlite:///{tmp_path / 'other.db'}"  # another destination, reachable
    _fails_cleanly(
        _migrate(tmp_path, _config(source_server.url, other, state, small_source)),
        "belongs to another sync",
    )
