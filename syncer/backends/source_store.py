"""A direct source store is looked at read-only before MLflow opens it.

MLflow's stores create what they open: `SqlAlchemyStore` creates a missing database and its tables
and upgrades an older schema, `FileStore` creates a missing folder, its `Default` experiment and
`.trash`. A source must never be written, so a database or folder that is missing, empty, not an
MLflow store or at another schema revision than the installed MLflow's is refused here, with what
was found and what to do.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine, make_url

from syncer.backends.store_identity import local_path, sqlite_path
from syncer.core.errors import FatalError
from syncer.core.redact import redact

_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_TABLES = {"experiments", "runs"}
_SERVE = (
    "serve it with the MLflow version that wrote it "
    "(`mlflow server --backend-store-uri ...`) and give "
)


def check_source_store(uri: str, role: str = "source") -> None:
    """Refuse (FatalError) a direct store that MLflow would create, initialise or upgrade on
    open."""
    scheme = urlsplit(uri).scheme.lower()
    if uri.startswith("databricks"):  # `databricks`, `databricks-uc`: a workspace, not a folder
        return
    if scheme == "sqlite":
        _check_sqlite(uri, role)
    elif scheme in ("", "file"):
        _check_folder(uri, role)
    elif scheme.split("+")[0] in ("postgresql", "mysql", "mssql", "oracle"):
        _check_database(uri, role)


def _check_sqlite(uri: str, role: str) -> None:
    path = sqlite_path(uri)
    shown = f"{role} {uri}"
    if path == ":memory:":
        raise FatalError(
            f"{shown} is an in-memory database, which holds nothing to read; give the file "
            "of an MLflow store"
        )
    file = Path(path)
    if not file.exists():
        raise FatalError(
            f"{shown}: no such file {path}; a source is never created: check the path "
            "(relative paths start at the working directory)"
        )
    if file.is_dir():
        raise FatalError(
            f"{shown}: {path} is a folder, not a SQLite file (an MLflow file store is given "
            "as the bare path or file:///path)"
        )
    with file.open("rb") as fh:
        head = fh.read(len(_SQLITE_MAGIC))
    if head != _SQLITE_MAGIC:
        found = "an empty file" if not head else "a file that is not a SQLite database"
        raise FatalError(f"{shown}: {path} is {found}; give the SQLite file of an MLflow store")
    mode = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(f"file:{path}?{mode}", uri=True, check_same_thread=False),
    )
    try:
        _check_schema(engine, shown)
    finally:
        engine.dispose()


def _check_database(uri: str, role: str) -> None:
    shown = f"{role} {redact(make_url(uri).render_as_string(hide_password=True))}"
    engine = create_engine(uri, pool_pre_ping=True)
    try:
        _check_schema(engine, shown)
    except FatalError:
        raise
    except Exception as exc:  # the database refuses or does not answer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FatalError(f"{shown}: cannot read the database: {redact(first)[:200]}") from None
    finally:
        engine.dispose()


def _check_schema(engine: Engine, shown: str) -> None:
    """The database holds MLflow's tables at exactly the schema revision the installed MLflow
    expects."""
    from alembic.runtime.migration import MigrationContext
    from mlflow.store.db.utils import _get_latest_schema_revision

    tables = set(inspect(engine).get_table_names())
    if not tables >= _MLFLOW_TABLES:
        found = (
            f"{len(tables)} table{'s' * (len(tables) != 1)}, none of MLflow's"
            if tables
            else "no tables"
        )
        raise FatalError(
            f"{shown} is not an MLflow store ({found}); give the database of an MLflow "
            "tracking server"
        )
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = _get_latest_schema_revision()
    if current == head:
        return
    import mlflow

    if current is not None and current in _known_revisions():
        raise FatalError(
            f"{shown} has an older MLflow schema ({current}; MLflow {mlflow.__version__} "
            f"reads {head}) and a source is never upgraded: {_SERVE}its URL as --source, or "
            "run `mlflow db upgrade` on a copy and give the copy"
        )
    raise FatalError(
        f"{shown} has MLflow schema {current}, which MLflow {mlflow.__version__} does not know "
        f"(it reads {head}): upgrade MLflow, or {_SERVE}its URL as --source"
    )


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    return {
        rev.revision
        for rev in ScriptDirectory.from_config(_get_alembic_config("")).walk_revisions()
    }


def _check_folder(uri: str, role: str) -> None:
    path = local_path(uri)
    shown = f"{role} {uri}"
    folder = Path(path)
    if not folder.exists():
        raise FatalError(
            f"{shown}: no such folder {path}; a source is never created: check the path "
            "(or give a server URL, sqlite:///file.db or a database URL)"
        )
    if not folder.is_dir():
        hint = " (a SQLite file is given as sqlite:///path)" if _is_sqlite(folder) else ""
        raise FatalError(f"{shown}: {path} is a file, not an MLflow file store folder{hint}")
    entries = os.listdir(folder)
    if not entries:
        raise FatalError(
            f"{shown}: {path} is an empty folder, not an MLflow file store; check the path"
        )
    if not any((folder / e / "meta.yaml").is_file() for e in entries):
        raise FatalError(
            f"{shown}: {path} holds no MLflow experiment (no <id>/meta.yaml among its "
            f"{len(entries)} entries); give the folder of an MLflow file store (mlruns)"
        )
    if not (folder / ".trash").is_dir():
        raise FatalError(
            f"{shown}: {path} has no .trash folder, which MLflow would create on opening it: "
            f"create it (mkdir {path}/.trash) or {_SERVE}its URL as --source"
        )


def _is_sqlite(file: Path) -> bool:
    with file.open("rb") as fh:
        return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
