"""dashboards: each history row knows when its record's previous and next change of the same key were

The migration (流动) matrix between two instants pairs, for every record that
changed in between, its value at the first (the `old` of its first change
in the window) with its value at the second (the `new` of its last). It
found those two rows by grouping the window's rows by record: at a million
customers a year's window grouped 440,000 records, 1.7–2 s. With each row's
neighbours at hand (`prev_at`, `next_at`: the `at` of the record's
previous and next change of that key, in (at, id) order; NULL where there
is none), the first change in a window is a row whose previous one is
before it, the last a row whose next one is after it: a record that changed
once in the window is one row that is both, counted from the covering index
as it is scanned, and only the records that changed more than once need
their first and last rows paired (designer.dashboards.queries).

Triggers keep both columns on both databases, whoever inserts (a save, the
SQL reclassification of a publish, an import's COPY or multi-row INSERT): a
new row takes its neighbours' instants and becomes theirs. History rows are
deleted with their record (every row of it), which leaves no neighbour
to mend, or singly (none of the app's writers does), when its neighbours
close the gap. A load with the triggers off is followed by `tierwise db
rebuild`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

H = "classification_history"
OLD_INDEXES = {"ix_classification_history_key_at": "key, at, record_id, id, old, new",
               "ix_classification_history_key_record": "key, record_id, at, id, old, new"}
NEW_INDEXES = {name: columns + ", prev_at, next_at" for name, columns in OLD_INDEXES.items()}

def _mend(rows: str) -> str:
    """The rows of the records and keys `rows` names, their neighbours set again where they differ (only those
    looked up to be written: an import's new rows, which have none, are read once)."""
    return (f"UPDATE {H} SET prev_at = nb.p, next_at = nb.n FROM (SELECT id, p, n FROM ("
            f"SELECT c.id, c.prev_at, c.next_at, lag(c.at) OVER w AS p, lead(c.at) OVER w AS n FROM {H} c "
            f"WHERE {rows} WINDOW w AS (PARTITION BY c.key, c.record_id ORDER BY c.at, c.id)) AS x "
            "WHERE x.prev_at IS DISTINCT FROM x.p OR x.next_at IS DISTINCT FROM x.n) AS nb "
            f"WHERE {H}.id = nb.id")


#: PostgreSQL: a statement's rows (inserted, or deleted: a row taken out leaves a gap its neighbours close), as
#: sets; EXECUTEd, so planned for the rows at hand (one row of a save, thousands of an import's COPY)
PG_FUNCTIONS = {
    name: f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE '{_mend(f"(c.key, c.record_id) IN (SELECT key, record_id FROM {table})")}';
  RETURN NULL;
END $$"""
    for name, table in (("history_neighbours_inserted", "new_rows"), ("history_neighbours_deleted", "old_rows"))}
PG_TRIGGERS = {
    "history_neighbours_insert": f"AFTER INSERT ON {H} REFERENCING NEW TABLE AS new_rows "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION history_neighbours_inserted()",
    "history_neighbours_delete": f"AFTER DELETE ON {H} REFERENCING OLD TABLE AS old_rows "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION history_neighbours_deleted()",
}
#: SQLite: row triggers; a record's first change of a key (every row an import writes) costs one look-up
SQLITE_TRIGGERS = {
    "history_neighbours_insert": f"AFTER INSERT ON {H} WHEN EXISTS (SELECT 1 FROM {H} o WHERE o.key = NEW.key "
                                 "AND o.record_id = NEW.record_id AND o.id <> NEW.id) "
                                 f"BEGIN {_mend('c.key = NEW.key AND c.record_id = NEW.record_id')}; END",
    "history_neighbours_delete": f"AFTER DELETE ON {H} "
                                 f"BEGIN {_mend('c.key = OLD.key AND c.record_id = OLD.record_id')}; END",
}


def upgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    for name in OLD_INDEXES:  # filled without them (every row with a neighbour is rewritten), then made again
        op.execute(f"DROP INDEX {name}")
    # plain ALTER TABLE on SQLite too: a batch's copy of the table would drop its triggers (history_hours')
    op.add_column(H, sa.Column("prev_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(H, sa.Column("next_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_mend("TRUE"))  # every row's (the neighbours of migration 0018 came later)
    for name, columns in NEW_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {H} ({columns})")
    if pg:
        for sql in PG_FUNCTIONS.values():
            op.execute(sql)
    for name, spec in (PG_TRIGGERS if pg else SQLITE_TRIGGERS).items():
        op.execute(f"CREATE TRIGGER {name} {spec}")
    op.execute(f"ANALYZE {H}")


def downgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    for name in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {H}" if pg else ""))
    if pg:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for name in NEW_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.drop_column(H, "next_at")
    op.drop_column(H, "prev_at")
    for name, columns in OLD_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {H} ({columns})")
