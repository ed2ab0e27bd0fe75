"""Scale-out: jobs and the work units several workers claim with leases, and shared rate-limit
buckets.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_jobs",
        sa.Column("job", sa.String(128), primary_key=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("seeded_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "work_units",
        sa.Column("job", sa.String(128), primary_key=True),
        sa.Column("unit", sa.String(256), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(256), nullable=True),
        sa.Column("lease_until", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_work_units_status", "work_units", ["job", "status"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(512), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_index("ix_work_units_status", "work_units")
    op.drop_table("work_units")
    op.drop_table("work_jobs")
