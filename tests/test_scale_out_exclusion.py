"""`migrate`/`mirror` taking the writer lock and a worker claiming a unit exclude each other for real.

Each test drives both sides through the library on a real PostgreSQL, step by step: a third connection holds a
table lock that stops one side inside its transaction, the test waits (on the database's own lock table, not on
a clock) until the other side is blocked too, then lets both go. Whichever side came second refuses, in both
orders. Before the two transactions shared a gate, a claim made between the lock's look at the leases and its
commit went unseen by both sides (syncer.state.exclusion).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from syncer.core.errors import FatalError
from syncer.state import leases
from syncer.state.cycles import lock_holder
from syncer.state.store import StateStore

WAITING = text("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
               "WHERE NOT l.granted AND d.datname = current_database()")


class Side(threading.Thread):
    """One side (the migrate taking the lock, or a worker claiming) run in a thread: its result or its error."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn, self.result, self.error = fn, None, None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn()
        except FatalError as exc:
            self.error = str(exc)


def wait_until(conn: Connection, blocked: int, *sides: Side) -> None:
    """Until `blocked` lock requests of this database wait, or one of `sides` has finished (it was not stopped)."""
    deadline = time.monotonic() + 60
    while conn.execute(WAITING).scalar_one() < blocked and all(s.is_alive() for s in sides):
        assert time.monotonic() < deadline, "the sides never reached the expected locks"
        time.sleep(0.01)


@pytest.fixture
def stores(postgres_server, pg_database) -> Iterator[tuple[StateStore, StateStore, Connection]]:
    """The worker's store and the migrate's (two connection pools, as two processes), and a third connection."""
    url = postgres_server.url(pg_database())
    worker, migrate = StateStore(url, pair="a -> b"), StateStore(url, pair="a -> b")
    assert leases.seed(worker, "j", ["1"], "w0")
    blocker = worker.engine.connect()
    yield worker, migrate, blocker
    blocker.close()
    migrate.release_lock()
    worker.close()
    migrate.close()


def test_a_claim_in_flight_when_migrate_takes_the_lock_makes_migrate_refuse(stores):
    worker, migrate, blocker = stores
    held = blocker.begin()
    blocker.execute(text("LOCK TABLE work_units IN EXCLUSIVE MODE"))  # the claim stops at its SELECT FOR UPDATE
    claimer = Side(lambda: leases.claim(worker, "j", "w1", lease=300))
    wait_until(blocker, 1, claimer)
    locker = Side(lambda: migrate.acquire_lock("mlflow-syncer", guard=leases.refuse_while_leased))
    wait_until(blocker, 2, claimer, locker)  # the lock waits for the claim's gate
    assert locker.is_alive(), f"the lock was taken while a claim was in flight: {locker.error}"
    held.rollback()
    claimer.join(60)
    locker.join(60)
    assert (claimer.result, claimer.error) == (leases.Claim("experiment:1", 1), None)
    assert locker.error == ("1 work units of job 'j' are held by scale-out workers (w1); "
                            "wait for them to finish or stop them first")
    assert lock_holder(migrate) is None
    assert leases.counts(worker, "j") == {"running": 1, "pending": 1}


def test_a_lock_in_flight_when_a_worker_claims_makes_the_worker_refuse(stores):
    worker, migrate, blocker = stores
    held = blocker.begin()
    blocker.execute(text("LOCK TABLE work_units IN ACCESS EXCLUSIVE MODE"))  # the lock stops at its lease check
    locker = Side(lambda: migrate.acquire_lock("mlflow-syncer", guard=leases.refuse_while_leased))
    wait_until(blocker, 1, locker)
    claimer = Side(lambda: leases.claim(worker, "j", "w1", lease=300))
    wait_until(blocker, 2, claimer, locker)  # the claim waits for the lock's gate
    assert claimer.is_alive(), f"the claim went on while the lock was being taken: {claimer.result}"
    held.rollback()
    locker.join(60)
    claimer.join(60)
    assert (locker.result, locker.error) == (None, None)
    holder = lock_holder(migrate)
    assert holder is not None and holder.holder == "mlflow-syncer"
    assert claimer.result is None and claimer.error is not None
    assert claimer.error.startswith(f"another mlflow-syncer (mlflow-syncer, pid {holder.pid} on {holder.host}) "
                                    "holds the writer lock of state store ")
    assert leases.counts(worker, "j") == {"pending": 2}
    migrate.release_lock()
    assert leases.claim(worker, "j", "w1", lease=300) == leases.Claim("experiment:1", 1)  # once it has finished


def test_a_worker_whose_lease_ended_before_migrate_took_the_lock_gives_its_unit_up(stores):
    """A stalled worker (its lease ran out) does not renew once a `migrate` holds the lock: its heartbeat learns
    it lost the unit and stops it at its next write, then its next claim refuses."""
    worker, migrate, _ = stores
    assert leases.claim(worker, "j", "w1", lease=-1) == leases.Claim("experiment:1", 1)  # stalled past its lease
    migrate.acquire_lock("mlflow-syncer", guard=leases.refuse_while_leased)  # no live lease: taken
    assert leases.renew(worker, "j", "w1", lease=300) == set()
    assert leases.live_leases(worker) == []  # not renewed
    with pytest.raises(FatalError, match="holds the writer lock of state store"):
        leases.claim(worker, "j", "w1", lease=300)
    migrate.release_lock()
    assert leases.renew(worker, "j", "w1", lease=300) == {"experiment:1"}  # once it has finished
