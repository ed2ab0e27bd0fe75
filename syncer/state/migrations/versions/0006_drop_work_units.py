"""Scale-out moved to Ray (docs/SCALE_OUT.md): the lease queue's tables and the shared rate buckets
go.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_index("ix_work_units_status", "work_units")
    op.drop_table("work_units")
    op.drop_table("work_jobs")


def downgrade() -> None:
    """Not supported: the dropped tables held only transient rows (leases, token buckets) of the
    removed lease queue."""
    raise NotImplementedError("downgrading below 0006 is not supported")
