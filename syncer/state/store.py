"""The state store: source->destination id map, per-object status and fingerprint, cursors, a lock.

SQLAlchemy models, schema versioned with Alembic. Every unit of work commits on its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, inspect, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from syncer.core import hooks
from syncer.core.errors import FatalError
from syncer.core.redact import redact
from syncer.state.connect import (
    default_state_url,
    make_engine,
    make_sqlite_folder,
    refuse_mlflow_database,
    unusable,
    with_driver,
)
from syncer.state.schema_upgrade import check_or_upgrade
from syncer.state.tables import ArtifactRecord, Cursor, Lock, Meta, ObjectRecord

__all__ = [
    "StateStore",
    "ObjectRecord",
    "default_state_url",
    "with_driver",
    "DONE",
    "IN_PROGRESS",
    "FAILED",
    "QUARANTINED",
]

DONE, IN_PROGRESS, FAILED, QUARANTINED = "done", "in_progress", "failed", "quarantined"


@dataclass(frozen=True)
class Failure:
    kind: str
    source_id: str
    status: str
    attempts: int
    error: str


class StateStore:
    """Read and write sync state. `read_only` stores never write (dry runs and diffs)."""

    def __init__(
        self,
        url: str,
        pair: str,
        read_only: bool = False,
        quarantine_after: int = 3,
        former_pairs: tuple[str, ...] = (),
    ) -> None:
        self.url = url
        self.pair = pair
        self.former_pairs = tuple(p for p in former_pairs if p != pair)  # older spellings: upgraded
        self.read_only = read_only
        self.quarantine_after = quarantine_after
        self._write_lock = threading.Lock()
        self._beating = threading.Event()
        self.engine: Engine | None = None
        self._open()

    # -- opening -------------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            if self.read_only and self._sqlite_missing():
                return
            refuse_mlflow_database(self.url)
            if not self.read_only:
                make_sqlite_folder(self.url)
            self.engine = make_engine(self.url, self.read_only)
            check_or_upgrade(self.engine, upgrade=not self.read_only)
            if not self.read_only:
                self._check_pair()
        except FatalError:
            raise
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise unusable(self.url, exc) from None

    def _sqlite_missing(self) -> bool:
        parsed = make_url(self.url)
        return parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists()

    def _check_pair(self) -> None:
        try:
            self._check_pair_once()
        except (
            IntegrityError
        ):  # another process (a scale-out worker) recorded it at the same moment
            self._check_pair_once()

    def _check_pair_once(self) -> None:
        with self._session() as s:
            row = s.get(Meta, "pair")
            if row is None:
                s.add(Meta(key="pair", value=self.pair))
            elif row.value in self.former_pairs:  # recorded by an older version under the URI text
                row.value = self.pair
            elif row.value != self.pair:
                raise FatalError(
                    f"state store {redact(self.url)} belongs to another sync ({row.value}); "
                    "use another --state"
                )

    def _session(self):
        assert self.engine is not None
        return sessionmaker(self.engine, expire_on_commit=False).begin()

    def _write(self):
        if self.read_only:
            raise RuntimeError("state store opened read-only")
        return _Locked(self._write_lock, self._session())

    # -- objects -------------------------------------------------------------------------------
    def get(self, kind: str, source_id: str) -> ObjectRecord | None:
        if self.engine is None:
            return None
        with self._session() as s:
            return s.get(ObjectRecord, (kind, source_id))

    def copied_dest_id(self, kind: str, source_id: str) -> str | None:
        """The destination id of a `kind` object whose copy is recorded as done, else None."""
        record = self.get(kind, source_id)
        return (
            record.dest_id
            if record is not None and record.status == DONE and record.dest_id
            else None
        )

    def dest_ids(self, kind: str, source_ids: Iterable[str]) -> dict[str, str]:
        """Source id -> destination id of those of the `kind` objects that have one (500 ids per
        query)."""
        wanted, found = sorted(set(source_ids)), {}
        if self.engine is None:
            return found
        with self._session() as s:
            for i in range(0, len(wanted), 500):
                q = select(ObjectRecord.source_id, ObjectRecord.dest_id).where(
                    ObjectRecord.kind == kind,
                    ObjectRecord.source_id.in_(wanted[i : i + 500]),
                    ObjectRecord.dest_id.is_not(None),
                )
                found.update((sid, did) for sid, did in s.execute(q))
        return found

    def all_records(self, kind: str | None = None) -> list[ObjectRecord]:
        if self.engine is None:
            return []
        with self._session() as s:
            q = select(ObjectRecord)
            if kind:
                q = q.where(ObjectRecord.kind == kind)
            return list(s.scalars(q))

    def mapped(self, kind: str) -> Iterator[ObjectRecord]:
        """The `kind` objects that have a destination copy, by source id, streamed (a million rows
        never sit in memory at once)."""
        if self.engine is None:
            return
        with self.engine.connect() as conn:
            q = (
                select(ObjectRecord)
                .where(ObjectRecord.kind == kind, ObjectRecord.dest_id.is_not(None))
                .order_by(ObjectRecord.source_id)
                .execution_options(yield_per=1000)
            )
            with Session(bind=conn) as s:
                yield from s.scalars(q)

    def recorded_pair(self) -> str | None:
        """The "source -> destination" identities this store belongs to (None: not recorded yet)."""
        if self.engine is None or "meta" not in self.tables():
            return None
        with self._session() as s:
            row = s.get(Meta, "pair")
            return row.value if row else None

    def record(
        self,
        kind: str,
        source_id: str,
        dest_id: str | None,
        status: str,
        fingerprint: str | None = None,
        name: str | None = None,
    ) -> None:
        """Record progress on one object (commits); `name` is how reports name it."""
        hooks.reached("state_record")
        with self._write() as s:
            row = s.get(ObjectRecord, (kind, source_id))
            if row is None:
                row = ObjectRecord(kind=kind, source_id=source_id, attempts=0)
                s.add(row)
            row.dest_id = dest_id or row.dest_id
            row.name = name or row.name
            row.status = status
            if status == DONE:
                row.fingerprint = fingerprint
                row.attempts = 0
                row.last_error = None
            row.updated_at = int(time.time())
        hooks.reached("state_record", "after")

    def record_failure(self, kind: str, source_id: str, error: str) -> str:
        """Count a failed attempt; quarantine the object after too many. Returns the new status."""
        with self._write() as s:
            row = s.get(ObjectRecord, (kind, source_id))
            if row is None:
                row = ObjectRecord(kind=kind, source_id=source_id, attempts=0)
                s.add(row)
            row.attempts = (row.attempts or 0) + 1
            row.last_error = redact(error)[:2000]
            row.status = QUARANTINED if row.attempts >= self.quarantine_after else FAILED
            row.updated_at = int(time.time())
            return row.status

    def _by_status(self, *statuses: str) -> list[ObjectRecord]:
        if self.engine is None:
            return []
        with self._session() as s:
            return list(s.scalars(select(ObjectRecord).where(ObjectRecord.status.in_(statuses))))

    def quarantined(self) -> frozenset[tuple[str, str]]:
        return frozenset((r.kind, r.source_id) for r in self._by_status(QUARANTINED))

    def failures(self) -> list[Failure]:
        """Objects that failed on their last attempt or are quarantined, with the reason."""
        return [
            Failure(r.kind, r.source_id, r.status, r.attempts, r.last_error or "")
            for r in sorted(
                self._by_status(FAILED, QUARANTINED), key=lambda r: (r.kind, r.source_id)
            )
        ]

    def release_quarantine(self) -> int:
        """Give quarantined objects another chance. Returns how many were released."""
        with self._write() as s:
            rows = list(s.scalars(select(ObjectRecord).where(ObjectRecord.status == QUARANTINED)))
            for row in rows:
                row.status, row.attempts = FAILED, 0
            return len(rows)

    # -- artifacts and cursors -----------------------------------------------------------------
    def uploaded_artifacts(self, run_source_id: str) -> dict[str, int]:
        if self.engine is None:
            return {}
        with self._session() as s:
            rows = s.scalars(
                select(ArtifactRecord).where(ArtifactRecord.run_source_id == run_source_id)
            )
            return {r.path: r.size for r in rows}

    def record_artifact(self, run_source_id: str, path: str, size: int) -> None:
        with self._write() as s:
            s.merge(ArtifactRecord(run_source_id=run_source_id, path=path, size=size))

    def forget(self, kind: str, source_id: str) -> None:
        """Forget one object's record and, for a run, its uploaded files (its copy was retired)."""
        with self._write() as s:
            s.execute(
                delete(ObjectRecord).where(
                    ObjectRecord.kind == kind, ObjectRecord.source_id == source_id
                )
            )
            if kind == "run":
                s.execute(delete(ArtifactRecord).where(ArtifactRecord.run_source_id == source_id))

    def get_cursor(self, name: str) -> str | None:
        if self.engine is None:
            return None
        with self._session() as s:
            row = s.get(Cursor, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self._write() as s:
            s.merge(Cursor(name=name, value=value))

    def reset(self) -> None:
        """Forget every object record (used before a rebuild from the destination)."""
        with self._write() as s:
            s.execute(delete(ObjectRecord))
            s.execute(delete(ArtifactRecord))

    # -- the lock ------------------------------------------------------------------------------
    def acquire_lock(self, holder: str, stale_after: float = 120.0) -> None:
        """Take the writer lock or fail clearly if another live process holds it."""
        host, pid = socket.gethostname(), os.getpid()
        try:
            self._take_lock(holder, host, pid, stale_after)
        except IntegrityError:
            raise FatalError(
                f"another mlflow-syncer is using state store {redact(self.url)}; stop it first"
            ) from None
        self._beating.clear()
        threading.Thread(
            target=self._beat, args=(stale_after / 4,), daemon=True, name="lock-heartbeat"
        ).start()

    def _beat(self, every: float) -> None:
        """Keep the lock fresh for other hosts while this process holds it."""
        while not self._beating.wait(every):
            with contextlib.suppress(SQLAlchemyError):
                self.heartbeat()

    def _take_lock(self, holder: str, host: str, pid: int, stale_after: float) -> None:
        with self._write() as s:
            row = s.get(Lock, "writer", with_for_update=True)
            now = int(time.time())
            if row is not None and not self._lock_is_stale(row, host, now, stale_after):
                raise FatalError(
                    f"another mlflow-syncer ({row.holder}, pid {row.pid} on {row.host}) is "
                    f"using state store {redact(self.url)}; stop it first"
                )
            if row is None:
                s.add(Lock(name="writer", holder=holder, host=host, pid=pid, heartbeat=now))
            else:
                row.holder, row.host, row.pid, row.heartbeat = holder, host, pid, now

    @staticmethod
    def _lock_is_stale(row: Lock, host: str, now: int, stale_after: float) -> bool:
        if row.host == host:
            if row.pid == os.getpid():
                return True
            try:
                os.kill(row.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return now - row.heartbeat > stale_after

    def heartbeat(self) -> None:
        with self._write() as s:
            row = s.get(Lock, "writer")
            if row is not None and row.pid == os.getpid():
                row.heartbeat = int(time.time())

    def release_lock(self) -> None:
        self._beating.set()
        if self.read_only or self.engine is None:
            return
        with self._write() as s:
            row = s.get(Lock, "writer")
            if row is not None and row.pid == os.getpid() and row.host == socket.gethostname():
                s.delete(row)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def tables(self) -> list[str]:
        return inspect(self.engine).get_table_names() if self.engine else []


class _Locked:
    """Hold a thread lock for the span of a write transaction (SQLite allows one writer)."""

    def __init__(self, lock: threading.Lock, ctx) -> None:
        self.lock, self.ctx = lock, ctx

    def __enter__(self) -> Session:
        self.lock.acquire()
        try:
            return self.ctx.__enter__()
        except BaseException:
            self.lock.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            self.ctx.__exit__(*exc)
        finally:
            self.lock.release()
