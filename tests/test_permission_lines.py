"""A state folder this user may not write and a config file it may not read are each said in one
line that names the permission problem and the path. The suite runs as root, where permissions do
not bite: the command runs as the unprivileged user `nobody` (setpriv), from this worktree's
venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.cli import SYNCER, cli_env

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a command as another user",
)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A root-owned folder that anyone may enter and read, but only root may write."""
    path = Path(tempfile.mkdtemp(prefix="syncer-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def as_nobody(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = cli_env(HOME=str(cwd), XDG_STATE_HOME=str(cwd / "xdg"))
    return subprocess.run(
        [*NOBODY, SYNCER, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_unwritable_state_folder_and_unreadable_config(folder):
    ends = ["--source", "http://127.0.0.1:9/", "--dest", "http://127.0.0.1:10/"]
    state = as_nobody(
        "state", "release", *ends, "--state", f"sqlite:///{folder}/state.db", cwd=folder
    )
    assert state.returncode == 2, state.stderr
    assert state.stderr == (
        f"mlflow-syncer: error: permission denied: user nobody (uid 65534) cannot "
        f"write the state folder {folder}; give --state a path this user can write, or "
        "make it writable (chown/chmod)\n"
    )

    default = as_nobody(
        "state", "release", *ends, cwd=folder
    )  # the default store's folder: $XDG_STATE_HOME
    assert default.returncode == 2, default.stderr
    assert default.stderr.startswith(
        "mlflow-syncer: error: permission denied: user nobody (uid 65534) "
        f"cannot write the state folder {folder}; "
    )
    assert default.stderr.count("\n") == 1

    config = folder / "c.yaml"
    config.write_text("source: http://127.0.0.1:9/\n")
    config.chmod(0o600)
    read = as_nobody("check-config", "--offline", "--config", str(config), cwd=folder)
    assert read.returncode == 2, read.stderr
    assert read.stderr == (
        f"mlflow-syncer: error: permission denied: user nobody (uid 65534) cannot read "
        f"the config file {config}\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["c.yaml"]  # nothing written
