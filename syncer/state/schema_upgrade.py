"""Create, check and upgrade the state store schema with Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from syncer.core.errors import FatalError

MIGRATIONS = Path(__file__).parent / "migrations"
_UPGRADE_LOCK = 0x6D6C666C  # a PostgreSQL advisory lock key of mlflow-syncer's schema upgrades


def alembic_config(engine: Engine | None) -> Config:
    """An Alembic config pointing at the packaged migrations, carrying the engine to migrate."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest schema revision this version of mlflow-syncer knows."""
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_or_upgrade(engine: Engine, upgrade: bool) -> None:
    """Bring the schema to the head revision, or refuse a store written by a newer version."""
    script = ScriptDirectory.from_config(alembic_config(None))
    head = script.get_current_head()
    current = current_revision(engine)
    if current == head:
        return
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise FatalError(
            f"state store schema {current} is newer than this mlflow-syncer understands "
            f"(it knows up to {head}); upgrade mlflow-syncer"
        )
    if not upgrade:
        if current is None:
            return
        raise FatalError(
            f"state store schema {current} is older than {head}; run any writing command "
            "(for example `mlflow-syncer migrate`) once to upgrade it"
        )
    with _one_upgrader(engine):
        if (
            current_revision(engine) != head
        ):  # another process may have upgraded while this one waited
            command.upgrade(alembic_config(engine), "head")


@contextmanager
def _one_upgrader(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time upgrades (scale-out workers open a new store
    together)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _UPGRADE_LOCK})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _UPGRADE_LOCK})
            conn.commit()
