"""Work units of a scale-out job, claimed by several workers with leases (docs/SCALE_OUT.md).

A job (a name) holds one unit per source experiment (`experiment:<id>`) and one final `registry` unit. The first
worker seeds them in the transaction that creates the job row, so every worker sees the same units. A worker
claims a unit with `SELECT ... FOR UPDATE SKIP LOCKED` (PostgreSQL; other workers skip the row it is claiming),
keeps it by renewing its lease, and marks it done or failed. A unit whose lease ran out (its worker was killed
or lost the database) is claimed by another worker; after `max_claims` claims it is failed instead. The
`registry` unit is claimed only once no experiment unit is pending or running. Times are the database's clock,
so workers on several machines agree on when a lease ends. A worker started for a job whose units are all done or
failed starts the job's next round (`new_round`): fresh units, the round's number kept as a state store cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Text, and_, delete, func, inspect, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from syncer.core.errors import FatalError
from syncer.core.redact import redact
from syncer.state.cycles import holder_in
from syncer.state.exclusion import gate
from syncer.state.store import Base, Cursor, StateStore

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
REGISTRY = "registry"  # the final unit: models, prompts, datasets, inventory; a full pass once experiments are done


class WorkJob(Base):
    """A scale-out job: its units were seeded when this row was created."""

    __tablename__ = "work_jobs"
    job: Mapped[str] = mapped_column(String(128), primary_key=True)
    created: Mapped[float] = mapped_column(Float)
    seeded_by: Mapped[str] = mapped_column(String(256))


class WorkUnit(Base):
    """One unit of a job, and who holds it until when."""

    __tablename__ = "work_units"
    job: Mapped[str] = mapped_column(String(128), primary_key=True)
    unit: Mapped[str] = mapped_column(String(256), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated: Mapped[float] = mapped_column(Float)


@dataclass(frozen=True)
class Claim:
    """A unit this worker now holds; `taken_over` names the worker whose lease had run out."""

    unit: str
    attempts: int
    taken_over: str | None = None


def experiment_unit(experiment_id: str) -> str:
    """The unit key of one source experiment."""
    return f"experiment:{experiment_id}"


def experiment_of(unit: str) -> str | None:
    """The source experiment id of an experiment unit (None for the registry unit)."""
    return unit.partition(":")[2] if unit.startswith("experiment:") else None


def concurrent(store: StateStore) -> bool:
    """True when several workers may share this store (PostgreSQL); SQLite allows one, under the writer lock."""
    return store.engine is not None and store.engine.dialect.name == "postgresql"


def db_now(s: Session) -> float:
    """The database's clock (seconds since the epoch): one clock for workers on several machines."""
    if s.get_bind().dialect.name == "postgresql":
        return float(s.execute(text("SELECT extract(epoch from clock_timestamp())")).scalar_one())
    return time.time()


def _session(store: StateStore) -> Session:
    assert store.engine is not None
    return Session(store.engine, expire_on_commit=False)


def job_exists(store: StateStore, job: str) -> bool:
    """Whether the job's units were seeded already."""
    with _session(store) as s:
        return s.get(WorkJob, job) is not None


def seed(store: StateStore, job: str, experiment_ids: list[str], who: str) -> bool:
    """Create the job with one unit per experiment and the registry unit, once: True if this call did."""
    try:
        with _session(store) as s, s.begin():
            now = db_now(s)
            s.add(WorkJob(job=job, created=now, seeded_by=who))
            s.flush()  # a second seeder waits here for the first one's commit, then fails on the key
            s.add_all(_fresh_units(job, experiment_ids, now))
        return True
    except IntegrityError:
        return False


def _fresh_units(job: str, experiment_ids: list[str], now: float) -> list[WorkUnit]:
    keys = [experiment_unit(e) for e in experiment_ids] + [REGISTRY]
    return [WorkUnit(job=job, unit=key, seq=i, status=PENDING, attempts=0, updated=now) for i, key in enumerate(keys)]


def _round_key(job: str) -> str:
    return f"scale_out.round:{job}"


def job_round(store: StateStore, job: str) -> int:
    """The job's round: 1 for its first units, one more each time a worker started it again once it was complete."""
    value = store.get_cursor(_round_key(job))
    return int(value) if value else 1


def new_round(store: StateStore, job: str, experiment_ids: list[str], who: str) -> int | None:
    """Start the job's next round if every unit of this one is done or failed: its units are replaced by fresh
    pending ones (the experiments the source has now), in one transaction under the job row's lock, so two workers
    starting together start one round. Returns the new round, or None (no such job, or a round still open)."""
    with _session(store) as s, s.begin():
        row = s.get(WorkJob, job, with_for_update=True)
        if row is None or _open_units(s, job, registry=True):
            return None
        now = db_now(s)
        s.execute(delete(WorkUnit).where(WorkUnit.job == job))
        s.add_all(_fresh_units(job, experiment_ids, now))
        row.created, row.seeded_by = now, who
        cursor = s.get(Cursor, _round_key(job))
        number = (int(cursor.value) if cursor else 1) + 1
        s.merge(Cursor(name=_round_key(job), value=str(number)))
        return number


def _claimable(job: str, registry: bool, now: float, exclusive: bool):  # noqa: ANN202
    expired = WorkUnit.lease_until < now if not exclusive else WorkUnit.status == RUNNING
    which = WorkUnit.unit == REGISTRY if registry else WorkUnit.unit != REGISTRY
    return (select(WorkUnit).where(WorkUnit.job == job, which,
                                   or_(WorkUnit.status == PENDING, and_(WorkUnit.status == RUNNING, expired)))
            .order_by(WorkUnit.seq).limit(1).with_for_update(skip_locked=True))


def _open_units(s: Session, job: str, registry: bool = False) -> int:
    """How many units of the job are pending or running (the registry unit counted only with `registry`)."""
    which = [WorkUnit.job == job, WorkUnit.status.in_((PENDING, RUNNING))]
    return s.scalar(select(func.count()).select_from(WorkUnit).where(
        *which, *([] if registry else [WorkUnit.unit != REGISTRY]))) or 0


def refuse_while_locked(store: StateStore) -> None:
    """Fail while a live `migrate` or `mirror` holds the writer lock: workers share the store with each other only."""
    with _session(store) as s:
        _refuse_locked(s, store.url)


def _refuse_locked(s: Session, url: str) -> None:
    holder = holder_in(s)
    if holder is not None and holder.live():
        raise FatalError(f"another mlflow-syncer ({holder.holder}, pid {holder.pid} on {holder.host}) holds the "
                         f"writer lock of state store {redact(url)}; workers start once it has finished")


def refuse_while_leased(s: Session) -> None:
    """Fail while scale-out workers hold live leases: the guard `migrate` and `mirror` take the writer lock with
    (syncer.state.exclusion), so no claim slips in between this check and the lock."""
    held = _live(s) if inspect(s.connection()).has_table("work_units") else []
    if held:
        owners = sorted({u.owner or "?" for u in held})
        raise FatalError(f"{len(held)} work units of job '{held[0].job}' are held by scale-out workers "
                         f"({', '.join(owners)}); wait for them to finish or stop them first")


def claim(store: StateStore, job: str, owner: str, lease: float, max_claims: int = 3,
          exclusive: bool = False) -> Claim | None:
    """Claim the next unit (None: nothing claimable now). `exclusive` (one worker under the writer lock, SQLite)
    takes over running units at once: their worker cannot be alive. Otherwise the claim passes the writer lock's
    gate and fails (FatalError) while a `migrate` or `mirror` holds the lock (syncer.state.exclusion)."""
    while True:
        with _session(store) as s, s.begin():
            if not exclusive:
                gate(s, shared=True)
                _refuse_locked(s, store.url)
            now = db_now(s)
            row = s.scalars(_claimable(job, False, now, exclusive)).first()
            if row is None and _open_units(s, job) == 0:
                row = s.scalars(_claimable(job, True, now, exclusive)).first()
            if row is None:
                return None
            previous = row.owner if row.status == RUNNING else None
            row.attempts, row.updated = row.attempts + 1, now
            if row.attempts > max_claims:
                row.status, row.owner, row.lease_until = FAILED, None, None
                row.error = f"abandoned: claimed {max_claims} times by workers that stopped (last: {previous})"
                continue
            row.status, row.owner, row.lease_until = RUNNING, owner, now + lease
            return Claim(row.unit, row.attempts, previous)


def renew(store: StateStore, job: str, owner: str, lease: float, exclusive: bool = False) -> set[str]:
    """Extend the leases of the units `owner` still holds; returns them (a unit missing was taken over). None is
    renewed while a `migrate` or `mirror` holds the writer lock (it took it once this worker's leases had ended):
    the worker gives its units up (`exclusive`: this worker holds the lock itself, SQLite)."""
    with _session(store) as s, s.begin():
        if not exclusive:
            gate(s, shared=True)
            if (holder := holder_in(s)) is not None and holder.live():
                return set()
        now = db_now(s)
        rows = list(s.scalars(select(WorkUnit).where(WorkUnit.job == job, WorkUnit.owner == owner,
                                                     WorkUnit.status == RUNNING).with_for_update()))
        for row in rows:
            row.lease_until, row.updated = now + lease, now
        return {row.unit for row in rows}


def finish(store: StateStore, job: str, unit: str, owner: str, error: str | None = None) -> bool:
    """Mark a held unit done (or failed with `error`); False when this worker no longer held it."""
    with _session(store) as s, s.begin():
        row = s.get(WorkUnit, (job, unit), with_for_update=True)
        if row is None or row.owner != owner or row.status != RUNNING:
            return False
        row.status = FAILED if error else DONE
        row.error = redact(error)[:2000] if error else None
        row.lease_until, row.updated = None, db_now(s)
        return True


def release(store: StateStore, job: str, unit: str, owner: str) -> None:
    """Give a held unit back (pending) without finishing it: this worker stops or could not run it."""
    with _session(store) as s, s.begin():
        row = s.get(WorkUnit, (job, unit), with_for_update=True)
        if row is not None and row.owner == owner and row.status == RUNNING:
            row.status, row.owner, row.lease_until, row.updated = PENDING, None, None, db_now(s)


def counts(store: StateStore, job: str) -> dict[str, int]:
    """How many units of the job are in each status."""
    with _session(store) as s:
        rows = s.execute(select(WorkUnit.status, func.count()).where(WorkUnit.job == job)
                         .group_by(WorkUnit.status))
        return {status: n for status, n in rows}


def jobs(store: StateStore) -> list[WorkJob]:
    """Every scale-out job of this state store, oldest first (none on a store no worker has used)."""
    if store.engine is None or "work_jobs" not in store.tables():
        return []
    with _session(store) as s:
        return list(s.scalars(select(WorkJob).order_by(WorkJob.created, WorkJob.job)))


def units(store: StateStore, job: str) -> list[WorkUnit]:
    """Every unit of the job, in claim order."""
    with _session(store) as s:
        return list(s.scalars(select(WorkUnit).where(WorkUnit.job == job).order_by(WorkUnit.seq)))


def live_leases(store: StateStore) -> list[WorkUnit]:
    """Units held by a worker whose lease has not run out (any job)."""
    if store.engine is None or "work_units" not in store.tables():
        return []
    with _session(store) as s:
        return _live(s)


def _live(s: Session) -> list[WorkUnit]:
    now = db_now(s)
    return list(s.scalars(select(WorkUnit).where(WorkUnit.status == RUNNING, WorkUnit.lease_until >= now)))
