"""dashboards: classification changes counted per hour, kept by triggers, for the trend and past counts

The counts at a past time are the current counts minus the changes since
(designer.dashboards.queries), and a year's trend read every history row of
that year: a second at a million customers. `history_hours` holds how many
changes of each kind (object, key, old -> new, the record's owner) each UTC
hour saw, and each kind's count for every owner together under the owner
'*' (no username has one); the dashboards add those up instead
(designer.dashboards.changes).

Triggers keep it exact on both databases, whoever writes:

- a history row inserted (a save, an import's COPY or multi-row INSERT, the
  SQL reclassification of a publish) is counted under its record's object
  and current owner;
- a history row deleted is taken off, unless its record is gone already: a
  record's deletion takes off all its history first (a row trigger before
  the DELETE, as the foreign key's cascade runs after the record is gone and
  no longer knows its owner);
- a record whose owner or object changed (an assignment, a pool move, one
  UPDATE of many) moves its history's counts to the new owner.

PostgreSQL appends: each statement's trigger INSERTs the kinds it saw, a
row per kind with a signed count (+ for history inserted, - for history
or a record deleted, a - and + pair for a record moved), and never updates
or deletes a row. A kind's count is the sum of its rows, which every reader
takes (a sum of 0 is no change). Updating one row per kind instead made the
rows counting everyone together a lock every writer of that kind in that
hour queued on: an import or a publish reclassifying for minutes in one
transaction held them to its commit, and the reps' saves of the same kind
waited that long. Appended rows are no one else's, so concurrent writers
never wait for each other; as they are a row per statement, not per change,
the table grows with the writes, and a later compaction could fold each
kind's rows into one (not built). So on PostgreSQL the table has no primary
key but a plain index (object, key, owner, hour_end) INCLUDE (old, new, n),
which the dashboards' sums read alone (an index-only scan). The statements'
history rows are worked on as sets (transition tables); a record deleted or
moved is a row trigger there, whose WHEN clause lets every other UPDATE of
a record (a save, a follow-up time) by without a call.

SQLite has a single writer at a time, so no such queue: it keeps a row per
kind, UPSERTed row by row, a row whose count reaches 0 deleted. A load with
triggers off is followed by `changes.rebuild`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = "object, key, owner, hour_end, old, new"
#: the owner of the rows that count every owner's changes together
EVERYONE = "'*'"
#: PostgreSQL's index on the table (it has no primary key there: rows are appended)
INDEX = "ix_history_hours"


def _hour_end(at: str, pg: bool) -> str:
    """The end of the UTC hour that `at` falls in, `at` counted in the hour it ends ((end - 1 h, end]): a
    change after a whole hour T is in an hour ending after T. SQLite stores `at` as UTC text with microseconds."""
    if pg:
        return f"date_trunc('hour', {at} - interval '1 microsecond', 'UTC') + interval '1 hour'"
    return (f"CASE WHEN substr({at}, 15) IN ('00:00', '00:00.000000') THEN substr({at}, 1, 13) || ':00:00.000000' "
            f"ELSE strftime('%Y-%m-%d %H:00:00.000000', {at}, '+1 hour') END")


def _json(column: str, pg: bool) -> str:
    """A JSON value as text, SQL NULL spelled as JSON null (both are None to the dashboards)."""
    return f"COALESCE(CAST({column} AS text), 'null')" if pg else f"COALESCE({column}, 'null')"


def _rows(pg: bool, history: str, records: str, on: str, sign: str = "") -> str:
    """(object, key, owner, hour_end, old, new, n) of `history` rows grouped, each counted under its record's
    object and owner, taken from `records` joined `on`, and under everyone (n negated with `sign` '-')."""
    owners = (f"CROSS JOIN LATERAL (VALUES (COALESCE(r.owner, '')), ({EVERYONE})) w(owner)" if pg else
              "CROSS JOIN (SELECT 0 AS everyone UNION ALL SELECT 1) w")
    owner = "w.owner" if pg else f"CASE WHEN w.everyone = 1 THEN {EVERYONE} ELSE COALESCE(r.owner, '') END"
    return (f"SELECT r.object, h.key, {owner} AS owner, {_hour_end('h.at', pg)} AS hour_end, "
            f"{_json('h.old', pg)} AS old, {_json('h.new', pg)} AS new, {sign}count(*) AS n "
            f"FROM {history} h JOIN {records} r ON {on} {owners} WHERE true GROUP BY 1, 2, 3, 4, 5, 6")


def _append(rows: str) -> str:
    """PostgreSQL: `rows` (their counts signed) appended, a row per kind. No ON CONFLICT and no row updated or
    deleted: a row another transaction wrote is never waited for (see the module's docstring)."""
    return f"INSERT INTO history_hours ({COLUMNS}, n) {rows}"


def _pg_function(name: str, rows: str) -> str:
    """A statement trigger's function appending `rows`, planned when it runs (EXECUTE), for the size of the
    transition tables: a plan cached at a one-row save would walk a 50,000-row import in nested loops."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$ {_append(rows)} $q$;
    RETURN NULL;
END $$"""


def _pg_record_function(name: str, record: str, filed: str, result: str) -> str:
    """A row trigger's function appending the counts of record `record`'s history (the index on record_id finds
    it): `filed` lists (object, owner, +1 or -1) the counts are added to or taken off with."""
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO history_hours ({COLUMNS}, n)
    SELECT f.object, h.key, f.owner, {_hour_end('h.at', True)}, {_json('h.old', True)}, {_json('h.new', True)},
           sum(f.sign)
      FROM classification_history h CROSS JOIN (VALUES {filed}) f(object, owner, sign)
     WHERE h.record_id = {record}.id GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(f.sign) <> 0;
    RETURN {result};
END $$"""


def _filed(side: str, sign: int) -> str:
    """`side`'s (OLD or NEW) object with its owner and with everyone, for _pg_record_function."""
    return f"({side}.object, COALESCE({side}.owner, ''), {sign}), ({side}.object, {EVERYONE}, {sign})"


PG_FUNCTIONS = {
    "history_hours_inserted": _pg_function(
        "history_hours_inserted", _rows(True, "new_rows", "records", "r.id = h.record_id")),
    # rows whose record is gone were taken off by history_hours_record_deleted
    "history_hours_deleted": _pg_function(
        "history_hours_deleted", _rows(True, "old_rows", "records", "r.id = h.record_id", "-")),
    # A record deleted: its history's counts taken off (negative rows) before the row goes.
    "history_hours_record_deleted": _pg_record_function(
        "history_hours_record_deleted", "OLD", _filed("OLD", -1), "OLD"),
    # A record whose owner or object changed: its history's counts move, a negative row under the old owner and a
    # positive one under the new (everyone's cancel out, no row, unless the object changed). A row trigger: its
    # WHEN leaves the other UPDATEs (a save, a follow-up time) at no cost at all.
    "history_hours_moved": _pg_record_function(
        "history_hours_moved", "NEW", _filed("OLD", -1) + ", " + _filed("NEW", 1), "NULL"),
}

PG_TRIGGERS = {
    "history_hours_insert": "AFTER INSERT ON classification_history REFERENCING NEW TABLE AS new_rows "
                            "FOR EACH STATEMENT EXECUTE FUNCTION history_hours_inserted()",
    "history_hours_delete": "AFTER DELETE ON classification_history REFERENCING OLD TABLE AS old_rows "
                            "FOR EACH STATEMENT EXECUTE FUNCTION history_hours_deleted()",
    "history_hours_move": "AFTER UPDATE OF owner, object ON records FOR EACH ROW "
                          "WHEN (OLD.owner IS DISTINCT FROM NEW.owner OR OLD.object IS DISTINCT FROM NEW.object) "
                          "EXECUTE FUNCTION history_hours_moved()",
    "history_hours_record_delete": "BEFORE DELETE ON records FOR EACH ROW EXECUTE FUNCTION history_hours_record_deleted()",
}
PG_TABLES = {"history_hours_insert": "classification_history", "history_hours_delete": "classification_history",
             "history_hours_move": "records", "history_hours_record_delete": "records"}


def _sqlite_upsert(select: str) -> str:
    return f"INSERT INTO history_hours ({COLUMNS}, n) {select} ON CONFLICT ({COLUMNS}) DO UPDATE SET n = n + excluded.n;"


def _sqlite_record(side: str, owner: str, sign: str, when: str = "true") -> str:
    """The history of record `side` (OLD or NEW) counted under its object and `owner` (negated with `sign` '-')."""
    return _sqlite_upsert(
        f"SELECT {side}.object, h.key, {owner}, {_hour_end('h.at', False)}, {_json('h.old', False)}, "
        f"{_json('h.new', False)}, {sign}count(*) FROM classification_history h WHERE h.record_id = {side}.id "
        f"AND {when} GROUP BY 1, 2, 3, 4, 5, 6")


def _sqlite_clear(side: str, owner: str) -> str:
    """Delete the rows of record `side`'s history's kinds under `owner` that reached 0."""
    return (f"DELETE FROM history_hours WHERE n = 0 AND object = {side}.object AND owner = {owner} "
            f"AND (key, hour_end, old, new) IN (SELECT h.key, {_hour_end('h.at', False)}, {_json('h.old', False)}, "
            f"{_json('h.new', False)} FROM classification_history h WHERE h.record_id = {side}.id);")


def _sqlite_old_kind(owner: str) -> str:
    """The kind of history row OLD under its record's object and `owner` (no row when the record is gone)."""
    return (f"object = (SELECT r.object FROM records r WHERE r.id = OLD.record_id) AND key = OLD.key "
            f"AND owner = {owner} AND hour_end = {_hour_end('OLD.at', False)} "
            f"AND old = {_json('OLD.old', False)} AND new = {_json('OLD.new', False)}")


_OLD_OWNER = "(SELECT COALESCE(r.owner, '') FROM records r WHERE r.id = OLD.record_id)"
SQLITE_MOVED = "OLD.owner IS NOT NEW.owner OR OLD.object IS NOT NEW.object"

SQLITE_TRIGGERS = {
    "history_hours_insert": "AFTER INSERT ON classification_history BEGIN " + " ".join(_sqlite_upsert(
        f"SELECT r.object, NEW.key, {owner}, {_hour_end('NEW.at', False)}, {_json('NEW.old', False)}, "
        f"{_json('NEW.new', False)}, 1 FROM records r WHERE r.id = NEW.record_id")
        for owner in ("COALESCE(r.owner, '')", EVERYONE)) + " END",
    "history_hours_delete": "AFTER DELETE ON classification_history BEGIN " + " ".join(
        f"UPDATE history_hours SET n = n - 1 WHERE {_sqlite_old_kind(owner)}; "
        f"DELETE FROM history_hours WHERE n = 0 AND {_sqlite_old_kind(owner)};"
        for owner in (_OLD_OWNER, EVERYONE)) + " END",
    # everyone's rows move only with the object (never, in practice)
    "history_hours_move": f"AFTER UPDATE OF owner, object ON records WHEN {SQLITE_MOVED} BEGIN "
                          + _sqlite_record("OLD", "COALESCE(OLD.owner, '')", "-") + " "
                          + _sqlite_record("NEW", "COALESCE(NEW.owner, '')", "") + " "
                          + _sqlite_clear("OLD", "COALESCE(OLD.owner, '')") + " "
                          + _sqlite_record("OLD", EVERYONE, "-", "OLD.object IS NOT NEW.object") + " "
                          + _sqlite_record("NEW", EVERYONE, "", "OLD.object IS NOT NEW.object") + " "
                          + _sqlite_clear("OLD", EVERYONE) + " END",
    "history_hours_record_delete": "BEFORE DELETE ON records BEGIN " + " ".join(
        _sqlite_record("OLD", owner, "-") + " " + _sqlite_clear("OLD", owner)
        for owner in ("COALESCE(OLD.owner, '')", EVERYONE)) + " END",
}


def upgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    columns = [
        sa.Column("object", sa.String(length=63), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("owner", sa.String(length=150), nullable=False),
        sa.Column("hour_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old", sa.Text(), nullable=False),
        sa.Column("new", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
    ]
    if pg:  # appended rows, a kind's several times: no key, an index the sums read alone
        op.create_table("history_hours", *columns)
        op.execute(f"CREATE INDEX {INDEX} ON history_hours (object, key, owner, hour_end) INCLUDE (old, new, n)")
    else:
        op.create_table("history_hours", *columns,
                        sa.PrimaryKeyConstraint("object", "key", "owner", "hour_end", "old", "new",
                                                name=op.f("pk_history_hours")),
                        sqlite_with_rowid=False)
    if pg:
        for sql in PG_FUNCTIONS.values():
            op.execute(sql)
        for name, spec in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {spec}")
    else:
        for name, spec in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {spec}")
    # in the key's order: a range of hours is then a run of pages (a row per kind, on both databases)
    op.execute(f"INSERT INTO history_hours ({COLUMNS}, n) "
               + _rows(pg, "classification_history", "records", "r.id = h.record_id") + " ORDER BY 1, 2, 3, 4, 5, 6")
    op.execute("ANALYZE history_hours")


def downgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    for name in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {PG_TABLES[name]}" if pg else ""))
    if pg:
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("history_hours")
