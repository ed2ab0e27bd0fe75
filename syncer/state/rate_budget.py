"""A request budget shared by every process using one state store: token buckets as rows (docs/SCALE_OUT.md).

Each bucket (an endpoint's identity and rate class, e.g. `databricks:https://host|search`) is one row, updated
under a row lock, on the database's clock: workers on several machines draw from the same budget, so a
workspace-wide limit (Databricks' limits hold per workspace) holds for all of them together.
"""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from syncer.state.leases import db_now
from syncer.state.store import Base, StateStore


class RateBucket(Base):
    """Tokens left in one shared bucket and when they were counted (database clock)."""

    __tablename__ = "rate_buckets"
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float)


class StateRateBudget:
    """`syncer.core.rate_budget.SharedBudget` kept in the state store."""

    def __init__(self, store: StateStore) -> None:
        assert store.engine is not None
        self.engine = store.engine
        self._insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        self._known: set[str] = set()

    def _ensure(self, s: Session, key: str, burst: float) -> None:
        if key not in self._known:
            s.execute(self._insert(RateBucket).values(key=key, tokens=burst, updated=db_now(s))
                      .on_conflict_do_nothing(index_elements=["key"]))
            self._known.add(key)

    def take(self, key: str, rate: float, burst: float) -> float:
        """Take one token from the bucket `key`: 0.0 when taken, else the seconds until one is due."""
        with Session(self.engine) as s, s.begin():
            self._ensure(s, key, burst)
            row = s.get(RateBucket, key, with_for_update=True)
            assert row is not None
            now = db_now(s)
            tokens = min(burst, row.tokens + max(0.0, now - row.updated) * rate)
            row.updated = now
            if tokens >= 1:
                row.tokens = tokens - 1
                return 0.0
            row.tokens = tokens
            return (1 - tokens) / rate
