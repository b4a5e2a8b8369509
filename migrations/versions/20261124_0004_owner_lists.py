"""owner lists: index (object, owner, updated_at) so a rep's list is one walk, newest first

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_records_object_owner", table_name="records")
    op.create_index("ix_records_object_owner_updated", "records", ["object", "owner", "updated_at"])


def downgrade():
    op.drop_index("ix_records_object_owner_updated", table_name="records")
    op.create_index("ix_records_object_owner", "records", ["object", "owner"])
