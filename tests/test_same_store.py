"""The two ends are never one store; a direct source is opened read-only; the state store is no MLflow database.

Every refusal: exit 2, one line on stderr, no traceback, and nothing written (row counts of the servers'
databases, file listings with sizes, times and hashes of the folders around a direct store).
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from syncer.backends.store_identity import store_key
from syncer.cli.app import main
from tests.fixtures.cli import run_cli

ONE_STORE = "a sync would copy the store into itself"


def _rows(db: Path) -> dict[str, int]:
    """Rows per table of a SQLite database, read without writing."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}


def _listing(root: Path) -> dict[str, tuple]:
    """Every entry under root with its size, modification time and content hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, digest)
    return found


def _refused(rc: int, err: str, *expected: str) -> str:
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("mlflow-syncer: error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def seeded(source_server) -> str:  # noqa: ANN001
    """An experiment with a finished run and a registered model on the source server."""
    name = f"same-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(source_server.url)
    run = client.create_run(client.create_experiment(name))
    client.log_param(run.info.run_id, "p", "1")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    return name


def _loopback(url: str, host: str) -> str:
    return url.replace("127.0.0.1", host)


# (case, destination tracking URI, destination registry URI or None, what the line says): `s` is the source
# server's URL, `d` the destination server's, `p` a loopback proxy's in front of the source (another port).
ALIASES: list[tuple[str, Callable, Callable | None, str]] = [
    ("localhost", lambda s, d, p: _loopback(s, "localhost"), None, "one store (http://localhost:"),
    ("trailing slashes", lambda s, d, p: s + "//", None, ONE_STORE),
    ("this host's name", lambda s, d, p: _loopback(s, socket.gethostname()), None, ONE_STORE),
    ("registry by name", lambda s, d, p: d, lambda s, d, p: _loopback(s, "localhost") + "/", ONE_STORE),
    ("proxy alias", lambda s, d, p: p, None, "both list the experiments"),
    ("registry behind a proxy", lambda s, d, p: d, lambda s, d, p: p, "both list the registered models"),
]


@pytest.mark.parametrize("case,dest,registry,expected", ALIASES, ids=[a[0] for a in ALIASES])
def test_one_server_under_another_name_is_refused(case, dest, registry, expected, source_server, dest_server,
                                                  seeded, fault_proxy, tmp_path, capsys):
    proxy = fault_proxy(source_server.url).url
    urls = (source_server.url, dest_server.url, proxy)
    argv = ["--source", source_server.url, "--dest", dest(*urls), "--state", f"sqlite:///{tmp_path / 's.db'}",
            "--experiments", seeded, "--no-progress"]
    if registry is not None:
        argv += ["--dest-registry", registry(*urls)]
    dbs = [source_server.root / "backend.db", dest_server.root / "backend.db"]
    before = [_rows(db) for db in dbs]
    for command in ("migrate", "diff"):
        _refused(*_run(capsys, command, *argv), expected)
    assert [_rows(db) for db in dbs] == before
    assert not (tmp_path / "s.db").exists()


def test_alias_refused_by_the_real_command(source_server, seeded, fault_proxy, tmp_path):
    proxy = fault_proxy(source_server.url)
    before = _rows(source_server.root / "backend.db")
    done = run_cli("migrate", "--source", source_server.url, "--dest", proxy.url, "--no-progress",
                   "--experiments", seeded, "--state", f"sqlite:///{tmp_path / 's.db'}")
    _refused(done.returncode, done.stderr, "are one store", "both list the experiments")
    assert _rows(source_server.root / "backend.db") == before


def test_a_mirror_copy_is_another_store_and_old_pair_keys_are_kept(source_server, dest_server, seeded,
                                                                     tmp_path, capsys):
    state = tmp_path / "s.db"
    argv = ["--source", source_server.url, "--dest", dest_server.url + "/", "--state", f"sqlite:///{state}",
            "--experiments", seeded, "--no-progress", "--no-models"]
    rc, err = _run(capsys, "migrate", *argv)
    assert rc == 0, err
    with sqlite3.connect(state) as db:  # as an older version recorded the pair: the URI text
        db.execute("UPDATE meta SET value = ? WHERE key = 'pair'",
                   (f"{source_server.url} -> {dest_server.url}/",))
    rc, err = _run(capsys, "migrate", *argv)
    assert rc == 0, err
    rc, err = _run(capsys, "diff", *argv)
    assert rc == 0, err
    with sqlite3.connect(state) as db:
        pair = db.execute("SELECT value FROM meta WHERE key = 'pair'").fetchone()[0]
    port = source_server.url.rsplit(":", 1)[1]
    assert pair == f"http://localhost:{port} -> {store_key(dest_server.url)}"
    copies = MlflowClient(dest_server.url).search_runs(
        [MlflowClient(dest_server.url).get_experiment_by_name(seeded).experiment_id])
    assert len(copies) == 1
