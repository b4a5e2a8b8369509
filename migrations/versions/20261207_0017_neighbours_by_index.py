"""dashboards: the history neighbours' trigger finds the rows it mends by their ids, not by reading the history

The statement trigger of 0013 (PostgreSQL) mends the neighbours of the
records and keys a statement inserted or deleted: it reads their rows by the
(key, record_id) index, then updates those whose neighbours differ,
joined back by id. PostgreSQL keeps no statistics on a transition table and
took a (key, record) pair for fifteen rows, so it expected a hundred thousand
rows to update and hashed the whole history to join them: a scan of every
history row at each statement (a chunk's 1,150 rows at 100,000 customers:
294 ms in the trigger, 93 ms as a plain statement). The functions now run
with hash and merge joins off, so the rows are joined by the primary key,
and without JIT, which the inflated estimate called for (58 ms and 3 ms).
A publish's reclassification at a million customers, right after the first
one (the history's statistics not yet refreshed), took 108.7 s before and
67.6 s after. Set on the functions (`ALTER FUNCTION … SET`): in force while
they run, restored when they return.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

FUNCTIONS = ("history_neighbours_inserted", "history_neighbours_deleted")
SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in FUNCTIONS:
        for setting, value in SETTINGS.items():
            op.execute(f"ALTER FUNCTION {name}() SET {setting} = {value}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {name}() RESET ALL")
