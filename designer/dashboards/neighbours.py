"""Each history row's neighbours: when its record's previous and next change of the same key were.

`classification_history.prev_at` and `next_at` (migration 0013, kept by
its triggers on every insert and delete) let the migration matrix find a record's
first and last change in a window from the rows themselves
(dashboards.queries._pairs). A load that bypasses the triggers
(`session_replication_role = replica`, as the benchmarks' loader writes on
PostgreSQL) is followed by `rebuild`, which `tierwise db rebuild` runs.
"""
from __future__ import annotations

from sqlalchemy import text

H = "classification_history"
#: every row's neighbours in (at, id) order within its record and key; only rows that differ are written
FILL = (f"UPDATE {H} SET prev_at = nb.p, next_at = nb.n FROM (SELECT id, p, n FROM ("
        f"SELECT id, prev_at, next_at, lag(at) OVER w AS p, lead(at) OVER w AS n FROM {H} "
        "WINDOW w AS (PARTITION BY key, record_id ORDER BY at, id)) AS x "
        "WHERE x.prev_at IS DISTINCT FROM x.p OR x.next_at IS DISTINCT FROM x.n) AS nb "
        f"WHERE {H}.id = nb.id")


def rebuild(session) -> None:
    """Set every history row's `prev_at` and `next_at` again from the history itself."""
    session.execute(text(FILL))
