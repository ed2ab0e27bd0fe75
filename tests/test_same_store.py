"""The two ends are never one store; a direct source is opened read-only; the state store is no
MLflow database.

Every refusal: exit 2, one line on stderr, no traceback, and nothing written (row counts of the
servers' databases, file listings with sizes, times and hashes of the folders around a direct
store).
"""

from __future__ import annotations

import hashlib
import shutil
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
def seeded(source_server) -> str:
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


# (case, destination tracking URI, destination registry URI or None, what the line says): `s` is the
# source
# server's URL, `d` the destination server's, `p` a loopback proxy's in front of the source (another
# port).
ALIASES: list[tuple[str, Callable, Callable | None, str]] = [
    ("localhost", lambda s, d, p: _loopback(s, "localhost"), None, "one store (http://localhost:"),
    ("trailing slashes", lambda s, d, p: s + "//", None, ONE_STORE),
    ("this host's name", lambda s, d, p: _loopback(s, socket.gethostname()), None, ONE_STORE),
    (
        "registry by name",
        lambda s, d, p: d,
        lambda s, d, p: _loopback(s, "localhost") + "/",
        ONE_STORE,
    ),
    ("proxy alias", lambda s, d, p: p, None, "both list the experiments"),
    (
        "registry behind a proxy",
        lambda s, d, p: d,
        lambda s, d, p: p,
        "both list the registered models",
    ),
]


@pytest.mark.parametrize("case,dest,registry,expected", ALIASES, ids=[a[0] for a in ALIASES])
def test_one_server_under_another_name_is_refused(
    case,
    dest,
    registry,
    expected,
    source_server,
    dest_server,
    seeded,
    fault_proxy,
    tmp_path,
    capsys,
):
    proxy = fault_proxy(source_server.url).url
    urls = (source_server.url, dest_server.url, proxy)
    argv = [
        "--source",
        source_server.url,
        "--dest",
        dest(*urls),
        "--state",
        f"sqlite:///{tmp_path / 's.db'}",
        "--experiments",
        seeded,
        "--no-progress",
    ]
    if registry is not None:
        argv += ["--dest-registry", registry(*urls)]
    dbs = [source_server.root / "backend.db", dest_server.root / "backend.db"]
    before = [_rows(db) for db in dbs]
    for command in (["migrate"], ["diff"], ["mirror", "--once"]):
        _refused(*_run(capsys, *command, *argv), expected)
    assert [_rows(db) for db in dbs] == before


def test_alias_refused_by_the_real_command(source_server, seeded, fault_proxy, tmp_path):
    proxy = fault_proxy(source_server.url)
    before = _rows(source_server.root / "backend.db")
    done = run_cli(
        "migrate",
        "--source",
        source_server.url,
        "--dest",
        proxy.url,
        "--no-progress",
        "--experiments",
        seeded,
        "--state",
        f"sqlite:///{tmp_path / 's.db'}",
    )
    _refused(done.returncode, done.stderr, "are one store", "both list the experiments")
    assert _rows(source_server.root / "backend.db") == before


def test_a_mirror_copy_is_another_store_and_old_pair_keys_are_kept(
    source_server, dest_server, seeded, tmp_path, capsys
):
    state = tmp_path / "s.db"
    argv = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url + "/",
        "--state",
        f"sqlite:///{state}",
        "--experiments",
        seeded,
        "--no-progress",
        "--no-models",
    ]
    rc, err = _run(capsys, "migrate", *argv)
    assert rc == 0, err
    with sqlite3.connect(state) as db:  # as an older version recorded the pair: the URI text
        db.execute(
            "UPDATE meta SET value = ? WHERE key = 'pair'",
            (f"{source_server.url} -> {dest_server.url}/",),
        )
    rc, err = _run(capsys, "migrate", *argv)
    assert rc == 0, err
    rc, err = _run(capsys, "diff", *argv)
    assert rc == 0, err
    with sqlite3.connect(state) as db:
        pair = db.execute("SELECT value FROM meta WHERE key = 'pair'").fetchone()[0]
    port = source_server.url.rsplit(":", 1)[1]
    assert pair == f"http://localhost:{port} -> {store_key(dest_server.url)}"
    copies = MlflowClient(dest_server.url).search_runs(
        [MlflowClient(dest_server.url).get_experiment_by_name(seeded).experiment_id]
    )
    assert len(copies) == 1


def _old_schema(folder: Path) -> str:
    """An MLflow SQLite store five schema revisions behind the installed MLflow, built by MLflow's
    own Alembic history."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base
    from sqlalchemy import create_engine

    url = f"sqlite:///{folder / 'old.db'}"
    cfg = _get_alembic_config(url)
    older = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()][5]
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, older)
    engine.dispose()
    return "sqlite:///old.db"


def _not_mlflow_sqlite(folder: Path) -> str:
    with sqlite3.connect(folder / "other.db") as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    return "sqlite:///other.db"


def _text_file(folder: Path, uri: str) -> str:
    (folder / "notes.txt").write_text("not a store\n")
    return uri


def _folder(folder: Path, *files: str) -> str:
    (folder / "store").mkdir()
    for name in files:
        (folder / "store" / name).write_text("x")
    return "store"


# (case, make the source in a folder and return its URI, what the line says)
SOURCES: list[tuple[str, Callable[[Path], str], str]] = [
    ("missing SQLite file", lambda f: "sqlite:///no-such.db", "no such file"),
    ("missing folder", lambda f: "no-such-dir", "no such folder"),
    ("missing file: folder", lambda f: "file:///no/such/mlruns", "no such folder"),
    ("empty folder", lambda f: _folder(f), "is an empty folder"),
    ("folder without experiments", lambda f: _folder(f, "data.csv"), "holds no MLflow experiment"),
    (
        "text file as SQLite",
        lambda f: _text_file(f, "sqlite:///notes.txt"),
        "not a SQLite database",
    ),
    (
        "text file as a folder",
        lambda f: _text_file(f, "notes.txt"),
        "is a file, not an MLflow file store",
    ),
    (
        "SQLite without MLflow tables",
        _not_mlflow_sqlite,
        "is not an MLflow store (1 table, none of MLflow's)",
    ),
    ("older MLflow schema", _old_schema, "has an older MLflow schema"),
]


@pytest.mark.parametrize("case,make,expected", SOURCES, ids=[s[0] for s in SOURCES])
def test_a_direct_source_is_never_created_or_upgraded(
    case, make, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    source = make(tmp_path)
    before = _listing(tmp_path)
    for command in ("migrate", "diff"):
        _refused(
            *_run(
                capsys, command, "--source", source, "--dest", "sqlite:///dest.db", "--no-progress"
            ),
            expected,
        )
    assert _listing(tmp_path) == before  # no source, no destination, no state store appeared


def test_an_mlflow_database_is_never_the_state_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient("sqlite:///src.db")
    client.create_run(client.create_experiment("e"))
    shutil.copy("src.db", "other.db")
    Path("link.db").symlink_to("dst.db")  # a destination not made yet
    before = _listing(tmp_path)
    ends = [
        "--source",
        "sqlite:///src.db",
        "--dest",
        f"sqlite:///{tmp_path}/dst.db",
        "--no-progress",
    ]
    cases = [
        ("sqlite:///./src.db", "the state store is the source's MLflow database"),
        ("sqlite:///link.db", "the state store is the destination's MLflow database"),
        ("sqlite:///other.db", "is an MLflow tracking database, not an mlflow-syncer state store"),
    ]
    for state, expected in cases:
        _refused(*_run(capsys, "migrate", *ends, "--state", state), expected)
    assert _listing(tmp_path) == before


def _databricks_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "databrickscfg"
    cfg.write_text(
        "[prod]\nhost = https://ADB-111.2.azuredatabricks.net/\ntoken = x\n"
        "[other]\nhost = https://adb-222.3.azuredatabricks.net\ntoken = y\n"
    )
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("DATABRICKS_HOST", "adb-111.2.azuredatabricks.net")


WS = "/subscriptions/0000/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
WS += "/workspaces/{ws}"
AML = "azureml://westeurope.api.azureml.ms/mlflow/{v}" + WS
SAME = [
    ("sqlite:///a.db", "sqlite:///./sub/../a.db"),
    ("sqlite:///a.db", "sqlite:///link.db"),
    ("mlruns", "file:///{tmp}/mlruns/"),
    ("file:mlruns", "./mlruns"),
    ("http://127.0.0.1:5000", "http://localhost:5000//"),
    ("http://127.0.0.1:80", "http://LOCALHOST/"),
    ("https://h.example/api/", "https://h.example:443/api"),
    ("http://127.0.0.1:5000", f"http://{socket.gethostname()}:5000"),
    ("http://127.0.0.1:5000", "http://[::1]:5000"),
    ("postgresql://u:p@localhost/mlflow", "postgresql+psycopg2://127.0.0.1:5432/mlflow"),
    ("databricks://prod", "databricks"),
    ("databricks-uc://prod", "databricks-uc"),
    (AML.format(v="v1.0", rg="rg", ws="ws"), AML.format(v="v2.0", rg="RG", ws="WS") + "?x=1"),
]
OTHER = [
    ("sqlite:///a.db", "sqlite:///b.db"),
    ("mlruns", "sqlite:///mlruns"),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5001"),
    ("http://h.example", "https://h.example"),
    ("https://h.example/a", "https://h.example/b"),
    ("postgresql://localhost/mlflow", "postgresql://localhost/other"),
    ("databricks://prod", "databricks://other"),
    ("databricks://prod", "databricks-uc://prod"),
    (AML.format(v="v1.0", rg="rg", ws="ws"), AML.format(v="v1.0", rg="rg", ws="ws2")),
]


def test_store_keys_join_spellings_of_one_store_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _databricks_profiles(tmp_path, monkeypatch)
    Path("a.db").touch()
    Path("sub").mkdir()
    Path("link.db").symlink_to("a.db")
    for a, b in SAME:
        assert store_key(a) == store_key(b.format(tmp=tmp_path)), (a, b)
    for a, b in OTHER:
        assert store_key(a) != store_key(b), (a, b)
    assert store_key("databricks") == store_key("databricks-uc").replace("-uc", "", 1)
    assert "x" not in store_key("databricks://prod") and ":p@" not in store_key(
        "postgresql://u:p@h/db"
    )
