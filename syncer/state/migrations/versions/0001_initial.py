"""Initial state store schema.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("source_id", sa.String(512), primary_key=True),
        sa.Column("dest_id", sa.String(512), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "artifacts",
        sa.Column("run_source_id", sa.String(64), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(256), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("heartbeat", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("locks", "meta", "cursors", "artifacts", "objects"):
        op.drop_table(table)
