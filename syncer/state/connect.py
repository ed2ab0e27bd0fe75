"""Connecting to a state store: the default URL, database drivers, SQLite read-only and WAL modes."""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from syncer.core import waits
from syncer.core.errors import FatalError
from syncer.core.redact import redact

# A PostgreSQL state store that hangs must not wedge a process for ever: bounded connects, statements and
# pool waits, and keepalives that break a connection whose peer vanished (docs/RELIABILITY.md).
CONNECT_TIMEOUT = int(os.environ.get("MLFLOW_SYNCER_STATE_CONNECT_TIMEOUT", "10"))
STATEMENT_TIMEOUT = int(os.environ.get("MLFLOW_SYNCER_STATE_STATEMENT_TIMEOUT", "300"))
_BACKGROUND = re.compile(r"\(Background on this error at: [^)]*\)")


def one_line(exc: BaseException) -> str:
    """A database error as one readable line: its lines joined, the SQLAlchemy link dropped, secrets masked."""
    text = _BACKGROUND.sub("", str(exc))
    parts = [p.strip() for p in text.splitlines() if p.strip()]
    return redact("; ".join(parts) or type(exc).__name__)[:1000]


def default_state_url(config_path: str | None) -> str:
    """A SQLite file next to the (last) config file, or in the working directory."""
    folder = Path(config_path.split(":")[-1]).resolve().parent if config_path else Path.cwd()
    return f"sqlite:///{folder / 'mlflow-syncer-state.db'}"


def _read_only_mode(db: str) -> str:
    """SQLite URI parameters that read without writing anything, not even WAL sidecar files.

    A WAL-mode file whose -wal sidecar is absent has no open connection: read it as immutable (mode=ro
    alone would create -wal and -shm next to it). With a live writer, share its sidecars read-only.
    """
    return "mode=ro" if Path(f"{db}-wal").exists() else "mode=ro&immutable=1"


def with_driver(url: str) -> str:
    """A PostgreSQL URL without a driver gets whichever driver is installed (psycopg 3 or psycopg2)."""
    parsed = make_url(url)
    if parsed.drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return parsed.set(drivername=driver).render_as_string(hide_password=False)
    raise FatalError("the PostgreSQL state store needs a driver: pip install 'mlflow-syncer[postgres]'")


def make_engine(url: str, read_only: bool) -> Engine:
    url = with_driver(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database or ""
        if read_only and db and db != ":memory:":
            engine = create_engine(f"sqlite:///file:{db}?{_read_only_mode(db)}&uri=true",
                                   connect_args={"check_same_thread": False})
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
    engine = create_engine(url, pool_pre_ping=True, pool_timeout=CONNECT_TIMEOUT * 3,
                           connect_args=_pg_args())
    _watch(engine, url)
    return engine


def _pg_args() -> dict:
    """libpq parameters bounding connects and statements (both drivers pass them to libpq)."""
    return {"connect_timeout": CONNECT_TIMEOUT, "options": f"-c statement_timeout={STATEMENT_TIMEOUT * 1000}",
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def _waiting(on: str, op: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapped(dbapi_connection: Any) -> Any:  # whatever the dialect answers
        with waits.waiting(on, op):
            return fn(dbapi_connection)

    return wrapped


def _watch(engine: Engine, url: str) -> None:
    """Record every connect and statement as a call in flight (`core.waits`): a mirror says when a cycle
    waits on its state store."""
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
        conn.info["syncer_wait"] = waits.begin(on, statement.split(None, 1)[0].lower() if statement else "sql")

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
        raise FatalError(f"state store {redact(url)} is an MLflow tracking database, not an "
                         "mlflow-syncer state store; give --state a file or database of its own")
