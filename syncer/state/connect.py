"""Connecting to a state store: the default URL, database drivers, SQLite read-only and WAL
modes."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from syncer.core import waits
from syncer.core.config_text import user_name
from syncer.core.errors import FatalError
from syncer.core.redact import redact

# A PostgreSQL state store that hangs must not wedge a process for ever: bounded connects,
# statements and pool waits, and keepalives that break a connection whose peer vanished
# (docs/RELIABILITY.md).
CONNECT_TIMEOUT = int(os.environ.get("MLFLOW_SYNCER_STATE_CONNECT_TIMEOUT", "10"))
STATEMENT_TIMEOUT = int(os.environ.get("MLFLOW_SYNCER_STATE_STATEMENT_TIMEOUT", "300"))
log = structlog.get_logger("syncer.state")
_BACKGROUND = re.compile(r"\(Background on this error at: [^)]*\)")


def one_line(exc: BaseException) -> str:
    """A database error as one readable line: its lines joined, the SQLAlchemy link dropped, secrets
    masked."""
    text = _BACKGROUND.sub("", str(exc))
    parts = [p.strip() for p in text.splitlines() if p.strip()]
    return redact("; ".join(parts) or type(exc).__name__)[:1000]


OLD_DEFAULT_NAME = "mlflow-syncer-state.db"
_said_old: set[str] = set()


def state_folder() -> Path:
    """Where default state stores live: `$XDG_STATE_HOME/mlflow-syncer` (default ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mlflow-syncer"


def pair_file(pair: str) -> str:
    """The default state store's file name for a "src.store_key -> dst.store_key" pair."""
    return hashlib.sha256(pair.encode()).hexdigest()[:16] + ".db"


def default_state_url(config_path: str | None, pair: str | None = None) -> str:
    """The state store used when none is given: the pair's file in the user's state folder, so any
    working folder finds it. An `mlflow-syncer-state.db` where older versions put it (next to the
    last config file, or in the working folder) is still used, and said once."""
    folder = Path(config_path.split(":")[-1]).resolve().parent if config_path else Path.cwd()
    old = folder / OLD_DEFAULT_NAME
    if old.exists() or pair is None:
        if old.exists() and str(old) not in _said_old:
            _said_old.add(str(old))
            log.info(
                "state store in the former default place",
                path=str(old),
                default_now=str(state_folder()),
            )
        return f"sqlite:///{old}"
    return f"sqlite:///{state_folder() / pair_file(pair)}"


def make_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite state store's file (the default one's may not exist yet)."""
    db = sqlite_file(url)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: another database, or in memory)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database.removeprefix("file:").split("?")[0])


def permission_problem(url: str, exc: BaseException) -> str | None:
    """One line when a SQLite state store fails because this user may not write its file or folder
    (SQLite says only "unable to open database file"), naming what to fix; None otherwise."""
    db = sqlite_file(url)
    if db is None or not isinstance(exc, (OSError, SQLAlchemyError)):
        return None
    if isinstance(exc, OSError) and not isinstance(exc, PermissionError):
        return None
    folder = db.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if db.exists() and not os.access(db, os.R_OK | os.W_OK):
        what = f"the state store file {db}"
    elif not os.access(folder, os.W_OK | os.X_OK):
        what = f"the state folder {folder}"
    else:
        return None
    return (
        f"permission denied: user {user_name()} cannot write {what}; give --state a path this user "
        "can write, or make it writable (chown/chmod)"
    )


def unusable(url: str, exc: BaseException) -> FatalError:
    """The one line for a state store that cannot be opened: a permission problem said as one."""
    if (problem := permission_problem(url, exc)) is not None:
        return FatalError(problem)
    return FatalError(
        f"state store {redact(url)} is unusable: {type(exc).__name__}: {one_line(exc)}"
    )


def _read_only_mode(db: str) -> str:
    """SQLite URI parameters that read without writing anything, not even WAL sidecar files.

    A WAL-mode file whose -wal sidecar is absent has no open connection: read it as immutable
    (mode=ro alone would create -wal and -shm next to it). With a live writer, share its sidecars
    read-only.
    """
    return "mode=ro" if Path(f"{db}-wal").exists() else "mode=ro&immutable=1"


def with_driver(url: str) -> str:
    """A PostgreSQL URL without a driver gets whichever driver is installed (psycopg 3 or
    psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return parsed.set(drivername=driver).render_as_string(hide_password=False)
    raise FatalError(
        "the PostgreSQL state store needs a driver: pip install 'mlflow-syncer[postgres]'"
    )


def make_engine(url: str, read_only: bool) -> Engine:
    url = with_driver(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if read_only and db and db != ":memory:":
            engine = create_engine(
                f"sqlite:///file:{db}?{_read_only_mode(db)}&uri=true",
                connect_args={"check_same_thread": False},
            )
        else:
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):
            cur = conn.cursor()
            if not read_only:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        _watch(engine, url)
        return engine
    engine = create_engine(
        url, pool_pre_ping=True, pool_timeout=CONNECT_TIMEOUT * 3, connect_args=_pg_args()
    )
    _watch(engine, url)
    return engine


def _pg_args() -> dict:
    """libpq parameters bounding connects and statements (both drivers pass them to libpq)."""
    return {
        "connect_timeout": CONNECT_TIMEOUT,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def _waiting(on: str, op: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapped(dbapi_connection: Any) -> Any:  # whatever the dialect answers
        with waits.waiting(on, op):
            return fn(dbapi_connection)

    return wrapped


def _watch(engine: Engine, url: str) -> None:
    """Record every connect and statement as a call in flight (`core.waits`): a mirror says when a
    cycle waits on its state store."""
    on = f"the state store ({redact(make_url(url).render_as_string(hide_password=True))})"

    @event.listens_for(engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams):
        with waits.waiting(on, "connect"):
            return dialect.connect(*cargs, **cparams)

    dialect = engine.dialect
    for name in ("do_ping", "do_commit", "do_rollback"):  # database round trips outside cursors
        setattr(dialect, name, _waiting(on, name.removeprefix("do_"), getattr(dialect, name)))

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, _cursor, statement, *_rest) -> None:
        conn.info["syncer_wait"] = waits.begin(
            on, statement.split(None, 1)[0].lower() if statement else "sql"
        )

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, *_rest) -> None:
        waits.end(conn.info.pop("syncer_wait", 0))

    @event.listens_for(engine, "handle_error")
    def _failed(context) -> None:
        if context.connection is not None:
            waits.end(context.connection.info.pop("syncer_wait", 0))


def refuse_mlflow_database(url: str) -> None:
    """An MLflow tracking database is never a state store. Looked at read-only: a writing SQLite
    engine would turn an MLflow database to WAL mode."""
    parsed = make_url(with_driver(url))
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        return
    try:
        probe = make_engine(url, read_only=True)
        try:
            tables = set(inspect(probe).get_table_names())
        finally:
            probe.dispose()
    except (SQLAlchemyError, ImportError):  # an unusable store: opening it says so
        return
    if {"experiments", "runs"} <= tables:
        raise FatalError(
            f"state store {redact(url)} is an MLflow tracking database, not an "
            "mlflow-syncer state store; give --state a file or database of its own"
        )
