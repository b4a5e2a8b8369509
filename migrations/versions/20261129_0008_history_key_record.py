"""dashboards: index the classification history by (key, record) too, covering what the migration matrix reads

The matrix pairs each record's first and last change in a window. Walking
(key, at) gives the window's rows in time order, which SQLite must then sort
by record to group them (0.8 s for a year at a million customers); walking
(key, record_id, at) gives them grouped already, and a team's records are
each one seek into it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_classification_history_key_record", "classification_history",
                    ["key", "record_id", "at", "id", "old", "new"])


def downgrade():
    op.drop_index("ix_classification_history_key_record", table_name="classification_history")
