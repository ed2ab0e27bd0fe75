"""The default state store lives in the user's state folder, keyed by the source->destination pair:
`status` and `state show|export` find it from any folder; `state show|export --state` alone read the pair
from the store; an `mlflow-syncer-state.db` in the former default place is still used. Real processes."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow import MlflowClient

from tests.fixtures.cli import cli_env, run_cli


def test_default_store_is_found_from_any_folder(source_server, dest_server, unique_name, tmp_path):
    MlflowClient(source_server.url).create_experiment(f"{unique_name}/a")
    xdg, here, there, old = (tmp_path / d for d in ("xdg", "here", "there", "old"))
    for d in (here, there, old):
        d.mkdir()
    env = cli_env(XDG_STATE_HOME=str(xdg))
    ends = ["--source", source_server.url, "--dest", dest_server.url]

    done = run_cli("migrate", *ends, "--experiments", f"{unique_name}/*", "--no-progress", env=env, cwd=here)
    assert done.returncode == 0, done.stderr
    assert list(here.iterdir()) == []
    stores = list((xdg / "mlflow-syncer").iterdir())
    assert len(stores) == 1 and stores[0].suffix == ".db"

    shown = run_cli("state", "show", *ends, env=env, cwd=there)
    assert shown.returncode == 0, shown.stderr
    assert "experiment done: 1" in shown.stdout.splitlines()
    status = run_cli("status", *ends, "--format", "json", env=env, cwd=there)
    assert status.returncode == 0, status.stderr

    alone = run_cli("state", "show", "--state", f"sqlite:///{stores[0]}", env=env, cwd=there)
    assert alone.returncode == 0, alone.stderr
    pair = alone.stdout.splitlines()[0]
    assert pair.startswith("pair: http") and " -> http" in pair
    assert alone.stdout.splitlines()[1:] == shown.stdout.splitlines()
    export = run_cli("state", "export", "--state", f"sqlite:///{stores[0]}", "--format", "json",
                     env=env, cwd=there)
    assert export.returncode == 0, export.stderr
    assert f'"name": "{unique_name}/a"' in export.stdout

    shutil.copy(stores[0], old / "mlflow-syncer-state.db")
    stores[0].unlink()
    former = run_cli("state", "show", *ends, env=env, cwd=old)
    assert former.returncode == 0, former.stderr
    assert former.stdout == shown.stdout
    assert former.stderr.count("former default place") == 1
    assert not Path(stores[0]).exists()
