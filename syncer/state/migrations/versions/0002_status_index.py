"""Index object records by status, so that failures and quarantined objects are found without a
scan.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_objects_status", "objects", ["status"])


def downgrade() -> None:
    op.drop_index("ix_objects_status", table_name="objects")
