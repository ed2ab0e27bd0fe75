"""The status view from a state store (no servers): cycles, lock holders, failures; the 0003
migration."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import sqlalchemy
from alembic import command

from syncer.report.status import text_lines, view
from syncer.state import cycles
from syncer.state.schema_upgrade import alembic_config, head_revision
from syncer.state.store import StateStore


def _store(path: Path, read_only: bool = False) -> StateStore:
    return StateStore(f"sqlite:///{path}", pair="http://src -> http://dst", read_only=read_only)


def _one_cycle(store: StateStore, ok: bool, next_run: float | None) -> None:
    started = time.time() - 30
    cycle_id = cycles.start_cycle(store, started, next_run)
    end = cycles.CycleEnd(
        ended=started + 271.3,
        ok=ok,
        error=None if ok else "destination unreachable",
        copied=3,
        unchanged=40,
        failed=0 if ok else 1,
        lag=2.5,
        lag_at_scan=90.0,
    )
    cycles.end_cycle(store, cycle_id, end, next_run)


def test_a_running_mirror_with_a_finished_cycle_and_failures(tmp_path):
    writer = _store(tmp_path / "state.db")
    writer.acquire_lock(holder="mlflow-syncer mirror")
    writer.record("run", "r1", "d1", "done", "fp")
    for _ in range(3):
        writer.record_failure("run", "bad", "HTTP 500 from http://dst")
    writer.record_failure("run", "flaky", "timed out")
    _one_cycle(writer, ok=True, next_run=time.time() + 60)
    cycles.start_cycle(writer, time.time() - 5, time.time() + 60)  # the next cycle is under way
    try:
        reader = _store(tmp_path / "state.db", read_only=True)
        v = view(reader)
        reader.close()
    finally:
        writer.release_lock()
        writer.close()
    assert (
        v["running"] is True
        and v["lock"]["holder"] == "mlflow-syncer mirror"
        and not v["lock"]["stale"]
    )
    assert v["lock"]["heartbeat_age_seconds"] < 60 and v["pair"] == "http://src -> http://dst"
    last = v["last_cycle"]
    assert (last["ok"], last["copied"], last["seconds"], last["lag_seconds"]) == (
        True,
        3,
        271.3,
        2.5,
    )
    assert v["cycle_in_progress"]["running_seconds"] >= 5 and 0 < v["next_cycle_in_seconds"] <= 60
    assert v["pending"] == {
        "count": 1,
        "objects": [{"kind": "run", "source_id": "flaky", "attempts": 1, "reason": "timed out"}],
    }
    assert v["quarantined"]["objects"][0]["source_id"] == "bad" and v["objects"]["done"] == 1
    text = "\n".join(text_lines(v))
    assert "mirror        running: 'mlflow-syncer mirror', pid" in text
    assert "took 4 min 31 s: ok; copied 3, unchanged 40" in text
    assert "lag           2.5 s" in text and "next cycle    " in text and "(in " in text
    assert "! run bad (attempts 3): HTTP 500 from http://dst" in text
    assert "work" not in v and text.endswith("! run bad (attempts 3): HTTP 500 from http://dst")


def test_a_stopped_mirror_shows_its_last_cycle_and_no_next_one(tmp_path):
    writer = _store(tmp_path / "state.db")
    _one_cycle(writer, ok=False, next_run=None)
    writer.close()
    with sqlite3.connect(
        tmp_path / "state.db"
    ) as db:  # a holder on another host that stopped beating
        db.execute(
            "INSERT INTO locks VALUES ('writer', 'mlflow-syncer mirror', 'elsewhere', 42, ?)",
            (int(time.time()) - 600,),
        )
    reader = _store(tmp_path / "state.db", read_only=True)
    v = view(reader)
    reader.close()
    assert v["running"] is False and v["lock"]["stale"] is True and v["next_cycle"] is None
    assert v["last_cycle"]["ok"] is False and v["last_cycle"]["error"] == "destination unreachable"
    text = "\n".join(text_lines(v))
    assert re.search(
        r"stopped: stale lock of 'mlflow-syncer mirror', pid 42 on elsewhere, heartbeat 10 min \d+ "
        r"s ago",
        text,
    )
    assert (
        "errors: destination unreachable" in text
        and "next cycle    none: the mirror is not running" in text
    )


def test_only_the_latest_cycles_are_kept(tmp_path):
    store = _store(tmp_path / "state.db")
    for i in range(cycles.KEEP + 5):
        cycles.start_cycle(store, float(i))
    rows = cycles.last_cycles(store, 1000)
    store.close()
    assert len(rows) == cycles.KEEP and rows[0].started == cycles.KEEP + 4


def test_a_store_of_the_previous_version_upgrades_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), "0002")  # the head of the previous version
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO objects VALUES ('run', 'r1', 'd1', 'quarantined', NULL, 3, 'boom', 0)"
        )
        db.execute("INSERT INTO meta VALUES ('pair', 'http://src -> http://dst')")
    store = _store(path)  # any writing command upgrades
    _one_cycle(store, ok=True, next_run=None)
    store.close()
    with sqlite3.connect(path) as db:
        assert (
            db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            == head_revision()
            == "0006"
        )
        assert db.execute("SELECT count(*) FROM cycles").fetchone()[0] == 1
    v = view(_store(path, read_only=True))
    assert v["quarantined"]["objects"][0] == {
        "kind": "run",
        "source_id": "r1",
        "attempts": 3,
        "reason": "boom",
    }
    assert v["last_cycle"]["copied"] == 3 and v["running"] is False
