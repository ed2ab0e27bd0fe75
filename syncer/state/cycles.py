"""Mirror cycle results in the state store, and the writer lock as others see it (for `mlflow-syncer
status`).

The mirror service records each cycle when it starts (`start_cycle`) and when it ends (`end_cycle`):
times, result, counts, replication lag and the next scheduled cycle. Only the latest `KEEP` cycles
are kept. A row without an end is a cycle in progress, or one whose process died.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy import Boolean, Float, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from syncer.core.redact import redact
from syncer.state.store import StateStore
from syncer.state.tables import Base, Lock, Meta, ObjectRecord

KEEP = 100


class CycleRecord(Base):
    """One mirror cycle: when, how long, how it ended, what it left behind, and when the next one is
    due."""

    __tablename__ = "cycles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started: Mapped[float] = mapped_column(Float)
    ended: Mapped[float | None] = mapped_column(Float, nullable=True)
    ok: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    copied: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    lag: Mapped[float | None] = mapped_column(Float, nullable=True)
    lag_at_scan: Mapped[float | None] = mapped_column(Float, nullable=True)
    next_run: Mapped[float | None] = mapped_column(Float, nullable=True)
    host: Mapped[str] = mapped_column(String(256), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)


@dataclass(frozen=True)
class CycleEnd:
    """How a cycle ended (the fields of engine.mirror_cycle.CycleReport that status shows)."""

    ended: float
    ok: bool
    error: str | None
    copied: int = 0
    failed: int = 0
    conflicts: int = 0
    deleted: int = 0
    unchanged: int = 0
    lag: float | None = None
    lag_at_scan: float | None = None


def start_cycle(store: StateStore, started: float, next_run: float | None = None) -> int:
    """Record that a cycle began; forget all but the latest KEEP cycles. Returns the cycle's id."""
    with store._write() as s:  # a companion module of the store
        row = CycleRecord(
            started=started, next_run=next_run, host=socket.gethostname(), pid=os.getpid()
        )
        s.add(row)
        s.flush()
        oldest_kept = (
            select(CycleRecord.id).order_by(CycleRecord.id.desc()).offset(KEEP - 1).limit(1)
        )
        cutoff = s.scalar(oldest_kept)
        if cutoff is not None:
            s.execute(delete(CycleRecord).where(CycleRecord.id < cutoff))
        return row.id


def end_cycle(store: StateStore, cycle_id: int, end: CycleEnd, next_run: float | None) -> None:
    """Record how a cycle ended and when the next one is scheduled (None: none is)."""
    with store._write() as s:
        row = s.get(CycleRecord, cycle_id)
        if row is None:
            return
        for name, value in end.__dict__.items():
            setattr(row, name, value)
        row.error = redact(end.error)[:2000] if end.error else None
        row.next_run = next_run


def last_cycles(store: StateStore, n: int = 1) -> list[CycleRecord]:
    """The latest `n` cycles, newest first (empty for a store without any, or without the table
    yet)."""
    if store.engine is None or "cycles" not in store.tables():
        return []
    with store._session() as s:
        return list(s.scalars(select(CycleRecord).order_by(CycleRecord.id.desc()).limit(n)))


def last_finished(store: StateStore) -> CycleRecord | None:
    """The latest cycle that ended."""
    if store.engine is None or "cycles" not in store.tables():
        return None
    with store._session() as s:
        q = (
            select(CycleRecord)
            .where(CycleRecord.ended.is_not(None))
            .order_by(CycleRecord.id.desc())
            .limit(1)
        )
        return s.scalar(q)


@dataclass(frozen=True)
class Holder:
    """Who holds the writer lock, and how fresh its heartbeat is."""

    holder: str
    host: str
    pid: int
    heartbeat: float
    alive: (
        bool | None
    )  # same host: whether the pid runs; another host: None (judge by the heartbeat)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now or time.time()) - self.heartbeat)

    def live(self, stale_after: float = 120.0) -> bool:
        """Whether the holder may still run: its pid runs (same host) or its heartbeat is fresh
        (another host)."""
        return bool(self.alive) or (self.alive is None and self.age() < stale_after)


def lock_holder(store: StateStore) -> Holder | None:
    """The writer lock's holder, or None when no process holds it."""
    if store.engine is None:
        return None
    with store._session() as s:
        return holder_in(s)


def holder_in(s: Session) -> Holder | None:
    """The writer lock's holder as `s`'s transaction sees it, or None."""
    row = s.get(Lock, "writer")
    if row is None:
        return None
    return Holder(row.holder, row.host, row.pid, float(row.heartbeat), _alive(row.host, row.pid))


def _alive(host: str, pid: int) -> bool | None:
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_pair(store: StateStore) -> str | None:
    """The `source -> destination` pair the store belongs to (None before any writing command
    ran)."""
    if store.engine is None:
        return None
    with store._session() as s:
        row = s.get(Meta, "pair")
        return row.value if row else None


def count_by_status(store: StateStore) -> dict[str, int]:
    """How many objects the store records per status (done, in_progress, failed, quarantined)."""
    if store.engine is None:
        return {}
    with store._session() as s:
        rows = s.execute(select(ObjectRecord.status, func.count()).group_by(ObjectRecord.status))
        return {status: n for status, n in rows}
