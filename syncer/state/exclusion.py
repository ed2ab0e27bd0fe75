"""The writer lock and scale-out claims exclude each other for real (docs/SCALE_OUT.md).

`migrate` and `mirror` take the writer lock (`StateStore.acquire_lock`) and, in that same transaction, check that
no worker holds a live lease (`leases.refuse_while_leased`); a worker claims a unit and, in that same transaction,
checks that no live process holds the writer lock (`leases.claim`). On PostgreSQL both transactions first take one
transaction-level advisory lock, `gate`: exclusive for the writer lock, shared for a claim (claims never wait for
one another). The two transactions therefore run one after the other, and the second sees the first's commit: it
refuses. Without the gate, a claim between the lock's check of the leases and its commit went unseen by both. On
SQLite no gate is needed: one worker runs there, under the writer lock itself.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

GATE_KEY = 0x6D6C_5359_4E43  # the advisory lock's key ("mlSYNC"), the same in every mlflow-syncer process


def gate(s: Session, shared: bool) -> None:
    """Take the gate for the rest of `s`'s transaction: shared to claim a unit, exclusive to take the writer lock."""
    if s.get_bind().dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    s.execute(text(f"SELECT {fn}(:key)"), {"key": GATE_KEY})
