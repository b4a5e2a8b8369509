"""dashboards: index the classification history by (key, at) so "changes since a date" walks only that range

Covering (record_id, id, old, new) too: the migration matrix and the trend
read nothing else of the rows they walk.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_classification_history_key_at", "classification_history",
                    ["key", "at", "record_id", "id", "old", "new"])


def downgrade():
    op.drop_index("ix_classification_history_key_at", table_name="classification_history")
