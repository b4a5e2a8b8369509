"""Classification changes counted per hour: `history_hours` (migration 0010), read by the trend and past counts.

The dashboards count the values at a past time T as the current counts
minus the changes after T (dashboards.queries). Reading those changes from
the history meant reading every row since T: a year's trend read a row for
every change of that year. `history_hours` holds how many changes of each
kind (object, key, old -> new JSON, the record's current owner) each UTC
hour saw, so the same sums read a row per hour and kind instead. Each kind
is also counted for every owner together under the owner `EVERYONE`, what
an unscoped chart reads: a row per hour and kind, whatever the number of
owners (at a million customers an hour's changes are spread over the reps,
and the owners' rows are about as many as the changes).

An hour's row counts the changes in (`hour_end` - 1 hour, `hour_end`], the
same half-open side as "changed after T": for a T on a whole UTC hour, the
changes after T are exactly the rows with `hour_end` > T. The points the
dashboards ask about are midnights of the bundle's time zone, whole UTC
hours in most zones; a point that is not (a zone at :30, a time of day)
splits its hour, whose changes are then read from the history itself
(`edges`), and the other hours still from here.

Triggers on both databases keep the table exact (migration 0010); a load
that bypasses them (`session_replication_role = replica`, as the benchmarks'
loader writes) is followed by `rebuild`.

On PostgreSQL the table is append-only: a statement's trigger inserts a row
per kind it changed, with a signed count (negative for history or a record
deleted, a negative and a positive row for a record moved to another
owner), and never updates a row. One row per kind, added to in place, was a
row lock every transaction writing that kind in that hour took and held to
its commit, the rows counting everyone together first of all: a long
import or publish made the reps' saves of the same kind wait for it.
Appended rows are no other transaction's, so concurrent writers never wait
for each other. A kind's count is the sum of its rows, which is what every
reader takes (a sum of 0, changes that cancelled out, reads as none); the
table holds rows a statement, not a row per change, and a later compaction
could fold each kind's rows into one (there is none yet). SQLite, one
writer at a time, keeps a single row per kind (UPSERT, a row reaching 0
deleted). `rebuild` writes one row per kind on both.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

HOUR = timedelta(hours=1)
#: the owner of the rows that count every owner's changes together (no username has a '*')
EVERYONE = "*"


def _whole(t: datetime) -> bool:
    t = t.astimezone(UTC)
    return t.minute == t.second == t.microsecond == 0


def edges(after: datetime, bounds: list[datetime]) -> list[tuple[datetime, datetime]]:
    """The hours (lo, hi] whose changes are read from the history: each hour a point not on a whole UTC hour
    falls in, after `after` (ascending, none twice). The table answers every other hour."""
    ends = sorted({_end(p) for p in [after, *bounds] if not _whole(p)})
    return [(max(end - HOUR, after), end) for end in ends]


def _end(t: datetime) -> datetime:
    """The end of the UTC hour `t` falls in (t itself on a whole hour)."""
    t = t.astimezone(UTC)
    start = t.replace(minute=0, second=0, microsecond=0)
    return start if start == t else start + HOUR


def rebuild(db):
    """Count the whole history again, as the triggers would have (after a load with triggers off, PostgreSQL): the
    table emptied, then one row per kind (PostgreSQL's appended rows folded too)."""
    pg = (db.dialect.name if hasattr(db, "dialect") else db.get_bind().dialect.name) == "postgresql"
    if pg:
        hour = "date_trunc('hour', h.at - interval '1 microsecond', 'UTC') + interval '1 hour'"
        old, new = "COALESCE(CAST(h.old AS text), 'null')", "COALESCE(CAST(h.new AS text), 'null')"
    else:
        hour = ("CASE WHEN substr(h.at, 15) IN ('00:00', '00:00.000000') THEN substr(h.at, 1, 13) || ':00:00.000000' "
                "ELSE strftime('%Y-%m-%d %H:00:00.000000', h.at, '+1 hour') END")
        old, new = "COALESCE(h.old, 'null')", "COALESCE(h.new, 'null')"
    db.execute(text("DELETE FROM history_hours"))
    for owner in ("COALESCE(r.owner, '')", f"'{EVERYONE}'"):
        db.execute(text(f"INSERT INTO history_hours (object, key, owner, hour_end, old, new, n) "
                        f"SELECT r.object, h.key, {owner}, {hour}, {old}, {new}, count(*) FROM classification_history h "
                        f"JOIN records r ON r.id = h.record_id GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"))
    db.execute(text("ANALYZE history_hours"))
