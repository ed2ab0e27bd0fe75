"""Alembic environment: runs migrations on the engine handed over by syncer.state.schema_upgrade."""

from alembic import context

import syncer.state.cycles  # noqa: F401  (its table joins Base.metadata)
from syncer.state.tables import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
