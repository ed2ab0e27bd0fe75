"""Sources written by MLflow 2.x for real (issue 28): a 2.x server store and a 2.x file store
(`mlruns/`), each written by the 2.x client (tests/fixtures/mlflow2.py), migrated into the pinned
3.x server, a 2.x server and SQLite, and (the same stores, copied by the syncer of .venv-newest with
   the newest MLflow 3.x's
client) into a server of the newest 3.x. Deep equality (tests/compare.py: runs of every status,
deleted ones too, metric histories, dataset inputs, files; registered models: versions, stages,
aliases, tags, files), a second pass that plans nothing, and `diff`/`diff --deep` that say "in sync"
without a `!` row.
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from syncer.core.model_snapshot import TAG_SOURCE_VERSION
from tests.compare import PROVENANCE, assert_same
from tests.fixtures.cli import cli_env, fork_with, run_forked, write_config
from tests.fixtures.mlflow2 import Mlflow2Source, mlflow2_version
from tests.fixtures.models import model_files
from tests.fixtures.procs import (
    VENV_BIN,
    MlflowServer,
    installed_python,
    pinned_version,
    start_mlflow_server,
)

FILE_STORE_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true"}
# The dropped download fails its run after two attempts, MLflow's own HTTP layer trying once (the
# defaults retry it for about a minute first); the same knobs as tests/test_mistakes.py.
FAST_FAIL = {"MLFLOW_SYNCER_RETRY_ATTEMPTS": "2", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
fork_with(**FAST_FAIL)
HISTORY = "mlflow.log-model.history"


def _config(tmp_path: Path, src: Mlflow2Source, dest: str, name: str) -> Path:
    prefix = src.experiments[0].rsplit("-", 1)[0]
    dest_end: dict[str, str] = {"tracking_uri": dest}
    if dest.startswith("sqlite:"):
        dest_end["artifact_root"] = str(tmp_path / f"{name}-artifacts")
    return write_config(
        tmp_path / f"{name}.yaml",
        source={"tracking_uri": src.uri},
        destination=dest_end,
        state=f"sqlite:///{tmp_path / f'{name}-state.db'}",
        experiments=[f"{prefix}-*"],
        models=[f"{prefix}-*"],
        deleted="mirror",
        workers=8,
    )


def _versions(client: MlflowClient, name: str, dest: bool) -> dict[str, dict]:
    """Source version (a destination's: its provenance tag) -> what a user relies on about it."""
    out = {}
    for mv in client.search_model_versions(f"name='{name}'"):
        key = mv.tags.get(TAG_SOURCE_VERSION) if dest else str(mv.version)  # a file store's: an int
        run = client.get_run(mv.run_id) if mv.run_id else None
        out[key] = {
            "number": str(mv.version),
            "stage": mv.current_stage,
            "description": mv.description,
            "tags": {k: v for k, v in mv.tags.items() if not k.startswith(PROVENANCE)},
            "run": run.data.tags.get(PROVENANCE + "source_run_id", run.info.run_id)
            if dest and run
            else mv.run_id,
        }
    return out


def _model_record(uri: str, name: str, dest: bool) -> dict:
    client = MlflowClient(uri, registry_uri=uri)
    model = client.get_registered_model(name)
    versions = _versions(client, name, dest)
    by_number = {v["number"]: key for key, v in versions.items()}
    files = {key: model_files(uri, name, v["number"]) for key, v in versions.items()}
    for v in versions.values():
        v.pop("number")
    return {
        "description": model.description,
        "versions": versions,
        "files": files,
        "tags": {k: v for k, v in model.tags.items() if not k.startswith(PROVENANCE)},
        "aliases": {alias: by_number[str(number)] for alias, number in model.aliases.items()},
    }


@functools.cache
def _source_model(uri: str, name: str) -> dict:
    """A source's model record, read once per source: each round trip from it compares its copy
    with the same record (nothing is ever written to a source)."""
    return _model_record(uri, name, dest=False)


def _assert_history_remapped(src: MlflowClient, dst: MlflowClient, run_ids: list[str]) -> None:
    """Each trial's `mlflow.log-model.history` (the model it logged) is copied, naming the copy's
    run id."""
    for run_id in run_ids:
        copy = dst.search_runs(
            [
                dst.get_experiment_by_name(
                    src.get_experiment(src.get_run(run_id).info.experiment_id).name
                ).experiment_id
            ],
            filter_string=f"tags.`{PROVENANCE}source_run_id` = '{run_id}'",
        )[0]
        want = json.loads(src.get_run(run_id).data.tags[HISTORY])
        assert [e["run_id"] for e in want] == [run_id]
        assert json.loads(copy.data.tags[HISTORY]) == [
            {**e, "run_id": copy.info.run_id} for e in want
        ]


def _assert_copied(src: Mlflow2Source, dest: str) -> None:
    """Runs (every lifecycle) and registered models of the destination equal the source's."""
    # Every destination here is SQL-backed: a file store's exact duplicate metric point is kept
    # once. MLflow 2.x ends have no logged models, evaluation datasets or trace v3 API: registered
    # models only.
    assert_same(
        MlflowClient(src.uri),
        MlflowClient(dest),
        src.experiments,
        view=ViewType.ALL,
        collapse=True,
        kinds=("models",),
    )
    _assert_history_remapped(
        MlflowClient(src.uri), MlflowClient(dest), src.built["trials"]["children"]
    )
    for name, numbers in src.models.items():
        want = _source_model(src.uri, name)
        assert sorted(want["versions"]) == sorted(numbers)
        assert all("MLmodel" in files for files in want["files"].values())
        assert _model_record(dest, name, dest=True) == want, name


def _round_trip(
    tmp_path: Path,
    src: Mlflow2Source,
    dest: str,
    name: str,
    verify: bool = False,
    python: Path = VENV_BIN / "python",
) -> None:
    """migrate (workers 8) -> deep comparison -> (`verify`: a second pass with --verify copies
    nothing) -> `diff --deep` plans nothing and says "in sync" plainly. `python`: the environment
    whose mlflow-syncer (and so whose MLflow client) copies, each command forked from a process of
    that environment that imported them once (tests.fixtures.cli.run_forked)."""
    config = str(_config(tmp_path, src, dest, name))
    env = cli_env(**FILE_STORE_ENV) if not src.uri.startswith("http") else cli_env()
    run = functools.partial(run_forked, env=env, python=python)
    first = run("migrate", "--config", config, "--no-progress")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    _assert_copied(src, dest)
    if verify:
        again = run("migrate", "--config", config, "--no-progress", "--verify")
        assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
        assert not re.findall(r"(created|updated|copied) +│ +[1-9]", again.stdout), again.stdout
    diff = run("diff", "--config", config, "--no-progress", "--deep")
    assert diff.returncode == 0, diff.stdout[-4000:] + diff.stderr[-4000:]
    verdict = diff.stdout.splitlines()[-1]
    assert "\n! " not in diff.stdout and (
        verdict == "in sync" or verdict.startswith("in sync (")
    ), diff.stdout[-3000:]


@pytest.fixture
def file_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process reads the 2.x file store too (MLflow 3 opens it only when asked)."""
    for key, value in FILE_STORE_ENV.items():
        monkeypatch.setenv(key, value)
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"


def test_mlflow2_server_into_pinned_server(mlflow2_server_source, dest_server, tmp_path):
    src = mlflow2_server_source
    assert src.built["mlflow"] == mlflow2_version()
    _round_trip(tmp_path, src, dest_server.url, "to-pinned", verify=True)


def test_mlflow2_file_store_into_three_destinations(
    mlflow2_file_source, mlflow2_server, dest_server, tmp_path, file_store_env
):
    src = mlflow2_file_source
    _round_trip(tmp_path, src, mlflow2_server.url, "to-mlflow2")
    _round_trip(tmp_path, src, dest_server.url, "to-pinned", verify=True)
    _round_trip(tmp_path, src, f"sqlite:///{tmp_path / 'dst.db'}", "to-sqlite")


@pytest.fixture(scope="module")
def newest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MlflowServer, Path]]:
    """A server of the newest MLflow 3.x (.venv-newest, scripts/setup_newest.sh) and that
    environment's python (its mlflow-syncer). A missing or broken .venv-newest fails the test
    (never skips it)."""
    python = installed_python(".venv-newest", "setup_newest.sh", "constraints-newest.txt")
    server = start_mlflow_server(tmp_path_factory.mktemp("newest-dst"), venv_bin=python.parent)
    try:
        with urllib.request.urlopen(f"{server.url}/version", timeout=30) as answer:
            assert answer.read().decode().strip() == pinned_version("constraints-newest.txt")
        yield server, python
    finally:
        server.stop()


def test_mlflow2_sources_into_newest_server(
    mlflow2_server_source, mlflow2_file_source, newest_server, tmp_path, file_store_env
):
    """The newest MLflow 3.x the project's range installs (.venv-newest: its client in the syncer,
    its server as the destination) copies both 2.x-written stores exactly."""
    server, python = newest_server
    _round_trip(tmp_path, mlflow2_server_source, server.url, "server-to-newest", python=python)
    _round_trip(tmp_path, mlflow2_file_source, server.url, "files-to-newest", python=python)


def test_a_file_a_2x_server_cannot_send_fails_only_its_run(
    mlflow2_built, mlflow2_server, dest_server, tmp_path
):
    """A real MLflow 2.x server drops the connection for a Japanese file name (its gunicorn refuses
    the header): that run fails, named on stderr and in the report, exit 1; the other runs are
    copied whole. The 2.x client wrote them (`mlflow2_built`: runs plain-0, japanese, plain-1)."""
    name, (plain0, japanese, plain1) = mlflow2_built.unsendable
    first = run_forked(
        "migrate",
        "--source",
        mlflow2_server.url,
        "--dest",
        dest_server.url,
        "--experiments",
        name,
        "--no-progress",
        "--state",
        f"sqlite:///{tmp_path / 'state.db'}",
        env=cli_env(**FAST_FAIL),
    )
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Traceback" not in first.stderr and "is unreachable" not in first.stderr, first.stderr[
        -3000:
    ]
    failed = [x for x in first.stderr.splitlines() if "object failed" in x]
    assert len(failed) == 1 and "japanese" in failed[0], first.stderr[-3000:]
    assert "japanese" in first.stdout
    dst = MlflowClient(dest_server.url)
    copies = {
        r.data.tags["mlflow_syncer.source_run_id"]: r
        for r in dst.search_runs([dst.get_experiment_by_name(name).experiment_id])
    }
    complete = {sid for sid, r in copies.items() if "mlflow_syncer.fingerprint" in r.data.tags}
    assert complete == {plain0, plain1}
    assert copies[japanese].info.status != "FINISHED"
    for sid in (plain0, plain1):
        assert [f.path for f in dst.list_artifacts(copies[sid].info.run_id)] == ["ok.txt"]
