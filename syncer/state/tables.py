"""The state store's tables (SQLAlchemy models; the schema is versioned with Alembic,
syncer/state/migrations): the id map and status of each object, uploaded artifacts, cursors, facts
about the store, the writers' lock."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ObjectRecord(Base):
    """One source object and what became of it in the destination."""

    __tablename__ = "objects"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    dest_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[float] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(
        String(1024), nullable=True
    )  # the object as reports name it


class ArtifactRecord(Base):
    """An artifact file uploaded to the destination (for destinations that list no sizes)."""

    __tablename__ = "artifacts"
    run_source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class Cursor(Base):
    """A named bookmark (for example the last cycle's start time)."""

    __tablename__ = "cursors"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Meta(Base):
    """Facts about this state store: which source and destination it belongs to."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Lock(Base):
    """Who writes through this state store right now."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    heartbeat: Mapped[float] = mapped_column(BigInteger)
