"""Each history row's neighbours: what its record's previous changes of the same key were, and when the next.

`classification_history.prev_at` and `next_at` (migration 0013) are the
instants of the record's previous and next change of the key, in (at, id)
order; `prev_old`, `prev_new` and `prev_prev_at` (migration 0018) the
previous change's `old` and `new` and the instant of the one before it. With
them the migration matrix finds a record's first and last change in a
window from the rows themselves (dashboards.queries._pairs): the row after a
record's first change in a window carries that change (its `old`, the value
at the window's start) and tells whether it was the first (the one before it
is outside). Triggers keep them on every insert and delete (`mend`); a load
that bypasses the triggers (`session_replication_role = replica`, as the
benchmarks' loader writes on PostgreSQL) is followed by `rebuild`, which
`tierwise db rebuild` runs.
"""
from __future__ import annotations

from sqlalchemy import text

H = "classification_history"
#: column -> what it is of a row's neighbours, in (at, id) order within its record and key
COLUMNS = {"prev_at": "lag(c.at)", "next_at": "lead(c.at)", "prev_old": "lag(c.old)", "prev_new": "lag(c.new)",
           "prev_prev_at": "lag(c.at, 2)"}


def mend(rows: str) -> str:
    """The statement setting the neighbours of the rows of the records and keys the condition `rows` (on the
    history as `c`) names, writing only the rows whose neighbours differ (an import's new rows, which have
    none, are read once)."""
    sets = ", ".join(f"{column} = nb.{column}" for column in COLUMNS)
    fresh = ", ".join(f"{expr} OVER w AS {column}" for column, expr in COLUMNS.items())
    stale = ", ".join(f"c.{column} AS was_{column}" for column in COLUMNS)
    differ = " OR ".join(f"x.was_{column} IS DISTINCT FROM x.{column}" for column in COLUMNS)
    return (f"UPDATE {H} SET {sets} FROM (SELECT * FROM (SELECT c.id, {stale}, {fresh} FROM {H} c "
            f"WHERE {rows} WINDOW w AS (PARTITION BY c.key, c.record_id ORDER BY c.at, c.id)) AS x "
            f"WHERE {differ}) AS nb WHERE {H}.id = nb.id")


#: every row's neighbours set again from the history itself
FILL = mend("TRUE")


def rebuild(session) -> None:
    """Set every history row's neighbours again from the history itself."""
    session.execute(text(FILL))
