"""The default state store lives in the user's state folder, keyed by the source->destination pair:
`status` and `state show|export` find it from any folder; `state show|export --state` alone read the
pair from the store; an `mlflow-syncer-state.db` in the former default place is still used. Real
processes (forked from one that imported the syncer, tests.fixtures.cli.run_forked, but for the
migrate that records what a process imports; a newly started process's one-line refusals are
tests/test_cli_options.py's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, run_cli, run_forked
from tests.fixtures.procs import VENV_BIN
from tests.fixtures.sqlite_stores import sqlite_store


def test_default_store_is_found_from_any_folder(source_server, dest_server, unique_name, tmp_path):
    MlflowClient(source_server.url).create_experiment(f"{unique_name}/a")
    xdg, here, there, old = (tmp_path / d for d in ("xdg", "here", "there", "old"))
    for d in (here, there, old):
        d.mkdir()
    env = cli_env(XDG_STATE_HOME=str(xdg))
    ends = ["--source", source_server.url, "--dest", dest_server.url]

    done = run_forked(
        "migrate", *ends, "--experiments", f"{unique_name}/*", "--no-progress", env=env, cwd=here
    )
    assert done.returncode == 0, done.stderr
    assert list(here.iterdir()) == []
    stores = list((xdg / "mlflow-syncer").iterdir())
    assert len(stores) == 1 and stores[0].suffix == ".db"

    shown = run_forked("state", "show", *ends, env=env, cwd=there)
    assert shown.returncode == 0, shown.stderr
    assert "experiment done: 1" in shown.stdout.splitlines()
    status = run_forked("status", *ends, "--format", "json", env=env, cwd=there)
    assert status.returncode == 0, status.stderr

    alone = run_forked("state", "show", "--state", f"sqlite:///{stores[0]}", env=env, cwd=there)
    assert alone.returncode == 0, alone.stderr
    pair = alone.stdout.splitlines()[0]
    assert pair.startswith("pair: http") and " -> http" in pair
    assert alone.stdout.splitlines()[1:] == shown.stdout.splitlines()
    export = run_forked(
        "state",
        "export",
        "--state",
        f"sqlite:///{stores[0]}",
        "--format",
        "json",
        env=env,
        cwd=there,
    )
    assert export.returncode == 0, export.stderr
    assert f'"name": "{unique_name}/a"' in export.stdout

    shutil.copy(stores[0], old / "mlflow-syncer-state.db")
    stores[0].unlink()
    former = run_forked("state", "show", *ends, env=env, cwd=old)
    assert former.returncode == 0, former.stderr
    assert former.stdout == shown.stdout
    assert former.stderr.count("former default place") == 1
    assert not Path(stores[0]).exists()


# `mlflow-syncer` as installed, recording the modules it imported. The azureml-mlflow plugin (the
# optional `[azureml]` extra, installed in the test venv) is made unimportable, as in an install
# without the extra: MLflow itself loads every installed plugin, and that plugin imports
# azure-identity and azure-storage-blob.
RECORDING = """#!{python}
import atexit, importlib.abc, json, os, sys

class NoPlugin(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "azureml":
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, NoPlugin())
atexit.register(lambda: json.dump(sorted(sys.modules), open(os.environ["IMPORTED"], "w")))
from syncer.cli.app import main
sys.argv[0] = "mlflow-syncer"
sys.exit(main())
"""


def test_status_alone_shows_every_pair_and_plain_migrate_imports_no_cloud_library(tmp_path):
    """`status` with neither --state nor ends shows the one default store there is, then every
    pair's; a migrate between two SQLite stores imports no Azure or Databricks module."""
    source = sqlite_store(tmp_path / "source.db")
    MlflowClient(source).create_experiment("a", artifact_location=str(tmp_path / "a"))
    recording = tmp_path / "recording"
    recording.write_text(RECORDING.format(python=VENV_BIN / "python"))
    recording.chmod(0o755)
    imported = tmp_path / "imported.json"
    env = cli_env(XDG_STATE_HOME=str(tmp_path / "xdg"), IMPORTED=str(imported))
    none = run_forked("status", env=env, cwd=tmp_path)
    assert (none.returncode, none.stderr) == (
        2,
        (
            f"mlflow-syncer: error: no state store in {tmp_path}/xdg/mlflow-syncer: no migrate or "
            "mirror has run here with the default store; give --config, --source and --dest, or "
            "--state\n"
        ),
    )

    dests = [f"sqlite:///{tmp_path / name}" for name in ("d1.db", "d2.db")]
    done = run_cli(
        "migrate",
        "--source",
        source,
        "--dest",
        dests[0],
        "--no-progress",
        env=env,
        cwd=tmp_path,
        syncer=str(recording),
    )
    assert done.returncode == 0, done.stderr
    modules = json.loads(imported.read_text())
    clouds = [m for m in modules if m.split(".")[0] in ("azure", "databricks")]
    # `databricks` alone: the empty namespace package, from MLflow's find_spec("databricks.agents")
    assert clouds == ["databricks"]
    one = run_forked("status", "--format", "json", env=env, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    pairs = [f"sqlite:{tmp_path}/source.db -> sqlite:{tmp_path}/{d}.db" for d in ("d1", "d2")]
    assert json.loads(one.stdout)["pair"] == pairs[0]

    done = run_forked(
        "migrate", "--source", source, "--dest", dests[1], "--no-progress", env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    both = run_forked("status", "--format", "json", env=env, cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    assert sorted(v["pair"] for v in json.loads(both.stdout)) == pairs
    assert [v["objects"] for v in json.loads(both.stdout)] == [{"done": 1}, {"done": 1}]
    text = run_forked("status", env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    blocks = text.stdout.split("\n\n")
    heads = [b.splitlines()[0].startswith("mlflow-syncer status of sqlite:///") for b in blocks]
    assert heads == [True, True]
    assert sorted(b.splitlines()[1].split(None, 1)[1] for b in blocks) == pairs
