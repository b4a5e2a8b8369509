"""dashboards: record_values' UPDATE trigger asks whether a column it reads changed by a count, not EXISTS

Before pairing the old and new rows of an UPDATE of `records`, the trigger
of 0009 asks whether any column those rows are made of changed. Asked with
EXISTS, PostgreSQL plans the join of the two transition tables for its first
row, a nested loop; when no row changed (an UPDATE of follow-up due times,
the bulk follow-up planner's 5,000 a statement) it walks every pair: a
20,000-row UPDATE ran for over two minutes instead of one second. Counted,
the join is planned for all its rows: a hash join, linear in the rows.

The function 0009 created is read back and this one statement rewritten, so
that the rest of it stays exactly as 0009 wrote it; a function that is not
as 0009 wrote it stops the migration.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""
from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

FUNCTION = "record_values_updated"
EXISTS = "SELECT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id"
COUNTED = "SELECT count(*) > 0 FROM (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id"
#: the end of the statement, which the subquery now needs an alias before
END = ") $q$ INTO touched;"
COUNTED_END = ") changed $q$ INTO touched;"


def _rewrite(old: tuple[str, str], new: tuple[str, str]):
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    source = bind.execute(text(f"SELECT pg_get_functiondef('{FUNCTION}'::regproc)")).scalar()
    start = source.find(old[0])
    end = source.find(old[1], start)
    if start < 0 or end < 0 or source.count(old[0]) != 1:
        raise RuntimeError(f"{FUNCTION}() is not as migration 0009 wrote it; cannot rewrite its first statement")
    source = source[:start] + new[0] + source[start + len(old[0]):end] + new[1] + source[end + len(old[1]):]
    bind.exec_driver_sql(source)


def upgrade():
    _rewrite((EXISTS, END), (COUNTED, COUNTED_END))


def downgrade():
    _rewrite((COUNTED, COUNTED_END), (EXISTS, END))
