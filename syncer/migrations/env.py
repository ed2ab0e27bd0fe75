"""Alembic environment: runs migrations on the engine handed over by syncer.migrate_schema."""

from alembic import context

from syncer.state import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
