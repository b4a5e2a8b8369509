"""dashboards (SQLite): the history rows of records that changed more than once, found by their neighbours

The migration matrix pairs each record's first and last change in the
window; a record that changed once is one row, whose kind of change
`history_hours` already counts. Only the rows whose previous change is in
the window (`prev_at` there) or whose next one is (`next_at` there) need
reading: two partial indexes, led by the key and that neighbour, hold just
the rows that have one (a record's first change of a key, every row an
import writes, is in neither until its record changes again), covering what
the matrix reads. SQLite only: on PostgreSQL the window's rows, scanned in
parallel, are read faster than these indexes would be (measured at a million
customers), and they would only cost writes there.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

H = "classification_history"
INDEXES = {
    "ix_classification_history_key_prev": ("key, prev_at, at, record_id, old, new, next_at", "prev_at IS NOT NULL"),
    "ix_classification_history_key_next": ("key, next_at, at, record_id, old, new, prev_at", "next_at IS NOT NULL"),
}


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, (columns, where) in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {H} ({columns}) WHERE {where}")
    op.execute(f"ANALYZE {H}")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
