"""The state store: PostgreSQL as well as SQLite, the writer lock, and schema upgrades (Alembic)."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy
from alembic import command
from mlflow import MlflowClient

from syncer.backends.endpoint import Endpoint
from syncer.state.schema_upgrade import alembic_config, head_revision
from syncer.state.store import StateStore, with_driver
from tests.compare import assert_same
from tests.fixtures.cli import cli_env, run_forked, write_config
from tests.fixtures.postgres import PG_PASSWORD
from tests.fixtures.workload import make_workload


def _pair(source: str, dest: str) -> str:
    return (
        f"{Endpoint(source, role='source').identity} -> "
        f"{Endpoint(dest, role='destination').identity}"
    )


def test_migration_with_postgresql_state(
    source_server, dest_server, postgres_server, pg_database, unique_name, tmp_path
):
    src, dst = MlflowClient(source_server.url), MlflowClient(dest_server.url)
    w = make_workload(src, unique_name, runs_per_experiment=1)
    db = pg_database()
    state = f"postgresql://syncer:${{SYNCER_PG_PASSWORD}}@127.0.0.1:{postgres_server.port}/{db}"
    config = write_config(
        tmp_path / "c.yaml",
        source={"tracking_uri": source_server.url},
        destination={"tracking_uri": dest_server.url},
        state=state,
        experiments=[f"{unique_name}/*"],
    )
    env = cli_env(SYNCER_PG_PASSWORD=PG_PASSWORD)
    first = run_forked("migrate", "--config", str(config), "--no-progress", env=env)
    assert first.returncode == 0, first.stderr
    assert_same(src, dst, w.experiments)
    assert run_forked("migrate", "--config", str(config), "--no-progress", env=env).returncode == 0
    shown = run_forked("state", "show", "--config", str(config), env=env)
    assert f"run done: {len(w.runs)}" in shown.stdout, shown.stdout + shown.stderr
    engine = sqlalchemy.create_engine(with_driver(postgres_server.url(db)))
    with engine.connect() as conn:
        assert (
            conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
            == head_revision()
        )
        assert conn.execute(sqlalchemy.text("SELECT count(*) FROM locks")).scalar() == 0
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_second_process_on_the_same_state_is_refused(
    backend, source_server, dest_server, postgres_server, pg_database, tmp_path, unique_name
):
    MlflowClient(source_server.url).create_experiment(
        unique_name
    )  # a pass with (almost) nothing to do
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if backend == "sqlite"
        else postgres_server.url(pg_database())
    )
    holder = StateStore(url, pair=_pair(source_server.url, dest_server.url))
    holder.acquire_lock("mlflow-syncer")
    args = [
        "migrate",
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        url,
        "--experiments",
        unique_name,
        "--no-progress",
    ]
    try:
        refused = run_forked(*args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        line = refused.stderr.strip()
        assert line.count("\n") == 0 and "Traceback" not in line
        assert (
            "another mlflow-syncer" in line
            and "is using state store" in line
            and "stop it first" in line
        )
        assert PG_PASSWORD not in line
    finally:
        holder.release_lock()
        holder.close()
    assert run_forked(*args).returncode == 0


def test_old_state_store_is_upgraded_by_a_writing_command(
    source_server, dest_server, tmp_path, unique_name
):
    MlflowClient(source_server.url).create_experiment(unique_name)
    path = tmp_path / "old.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), "0001")
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO objects VALUES ('run', 'r1', 'd1', 'failed', NULL, 1, 'boom', 0)")
    args = [
        "--source",
        source_server.url,
        "--dest",
        dest_server.url,
        "--state",
        f"sqlite:///{path}",
        "--experiments",
        unique_name,
    ]
    show = run_forked("state", "show", *args)
    assert show.returncode == 2 and "older than" in show.stderr and "Traceback" not in show.stderr
    assert run_forked("migrate", *args, "--no-progress").returncode == 0
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head_revision()
        )
        assert (
            db.execute("SELECT last_error FROM objects WHERE source_id = 'r1'").fetchone()[0]
            == "boom"
        )
        indexes = {row[1] for row in db.execute("PRAGMA index_list('objects')")}
    assert "ix_objects_status" in indexes
    show = run_forked("state", "show", *args)
    assert show.returncode == 0 and "! run r1 failed after 1 attempts: boom" in show.stdout
