"""Connecting to a state store: the default URL, database drivers, SQLite read-only and WAL modes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from syncer.core.errors import FatalError
from syncer.core.redact import redact


def default_state_url(config_path: str | None) -> str:
    """A SQLite file next to the config file, or in the working directory."""
    folder = Path(config_path).resolve().parent if config_path else Path.cwd()
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
        def _pragmas(conn, _record):  # noqa: ANN001
            cur = conn.cursor()
            if not read_only:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


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
