"""dashboards: each history row carries its record's previous change of the key (its old, its new, the one before)

The migration matrix pairs, for every record that changed more than once
in a window, its first change's `old` with its last change's `new`
(designer.dashboards.queries). On SQLite it read two partial indexes for
that (migration 0014): the rows whose previous change is in the window and
those whose next one is, and joined the records' first and last rows: a
year at a million customers, 99,000 rows of each and the join, 480 ms of a
580 ms chart. A row now also holds its previous change's `old` and `new`
(`prev_old`, `prev_new`) and when the change before that was
(`prev_prev_at`): the rows whose previous change is in the window tell by
themselves whether that change was the record's first in it, and what it
was, so one index is read once and only the records that changed three
times or more in the window are joined. The triggers of 0013 mend the new
columns as they mend the old (designer.dashboards.neighbours); the index of
the rows whose next change is in the window is no longer read and goes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

H = "classification_history"
OLD = {"prev_at": "lag(c.at)", "next_at": "lead(c.at)"}
NEW = {**OLD, "prev_old": "lag(c.old)", "prev_new": "lag(c.new)", "prev_prev_at": "lag(c.at, 2)"}
PREV_INDEX = "ix_classification_history_key_prev"
NEXT_INDEX = "ix_classification_history_key_next"
#: migration 0014's (SQLite)
OLD_INDEXES = {PREV_INDEX: ("key, prev_at, at, record_id, old, new, next_at", "prev_at IS NOT NULL"),
               NEXT_INDEX: ("key, next_at, at, record_id, old, new, prev_at", "next_at IS NOT NULL")}
NEW_PREV = "key, prev_at, at, record_id, old, new, next_at, prev_old, prev_new, prev_prev_at"
FUNCTIONS = {"history_neighbours_inserted": "new_rows", "history_neighbours_deleted": "old_rows"}
#: 0017's settings of the functions, which CREATE OR REPLACE clears
SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off", "jit": "off"}


def _mend(columns: dict, rows: str) -> str:
    """0013's statement for `columns`: the neighbours of the rows the condition `rows` names, set again where
    they differ (the text of designer.dashboards.neighbours.mend as of this revision)."""
    sets = ", ".join(f"{column} = nb.{column}" for column in columns)
    fresh = ", ".join(f"{expr} OVER w AS {column}" for column, expr in columns.items())
    stale = ", ".join(f"c.{column} AS was_{column}" for column in columns)
    differ = " OR ".join(f"x.was_{column} IS DISTINCT FROM x.{column}" for column in columns)
    return (f"UPDATE {H} SET {sets} FROM (SELECT * FROM (SELECT c.id, {stale}, {fresh} FROM {H} c "
            f"WHERE {rows} WINDOW w AS (PARTITION BY c.key, c.record_id ORDER BY c.at, c.id)) AS x "
            f"WHERE {differ}) AS nb WHERE {H}.id = nb.id")


def _triggers(columns: dict):
    """0013's triggers, mending `columns`."""
    if op.get_bind().dialect.name == "postgresql":
        for name, table in FUNCTIONS.items():
            body = _mend(columns, f"(c.key, c.record_id) IN (SELECT key, record_id FROM {table})").replace("'", "''")
            op.execute(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                       f"BEGIN\n  EXECUTE '{body}';\n  RETURN NULL;\nEND $$")
            for setting, value in SETTINGS.items():
                op.execute(f"ALTER FUNCTION {name}() SET {setting} = {value}")
        return
    op.execute("DROP TRIGGER IF EXISTS history_neighbours_insert")
    op.execute("DROP TRIGGER IF EXISTS history_neighbours_delete")
    op.execute(f"CREATE TRIGGER history_neighbours_insert AFTER INSERT ON {H} WHEN EXISTS (SELECT 1 FROM {H} o "
               "WHERE o.key = NEW.key AND o.record_id = NEW.record_id AND o.id <> NEW.id) "
               f"BEGIN {_mend(columns, 'c.key = NEW.key AND c.record_id = NEW.record_id')}; END")
    op.execute(f"CREATE TRIGGER history_neighbours_delete AFTER DELETE ON {H} "
               f"BEGIN {_mend(columns, 'c.key = OLD.key AND c.record_id = OLD.record_id')}; END")


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:  # filled without them, then made again
        for name in OLD_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.add_column(H, sa.Column("prev_old", json, nullable=True))
    op.add_column(H, sa.Column("prev_new", json, nullable=True))
    op.add_column(H, sa.Column("prev_prev_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_mend(NEW, "c.prev_at IS NOT NULL OR c.next_at IS NOT NULL"))  # rows alone keep NULLs
    _triggers(NEW)
    op.execute(f"CREATE INDEX {PREV_INDEX} ON {H} ({NEW_PREV}) WHERE prev_at IS NOT NULL")
    op.execute(f"ANALYZE {H}")


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute(f"DROP INDEX IF EXISTS {PREV_INDEX}")
    _triggers(OLD)
    op.drop_column(H, "prev_prev_at")
    op.drop_column(H, "prev_new")
    op.drop_column(H, "prev_old")
    if sqlite:
        for name, (columns, where) in OLD_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON {H} ({columns}) WHERE {where}")
