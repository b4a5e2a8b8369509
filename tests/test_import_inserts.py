"""`inserts.insert_values` stores what `insert(table)` stores, on SQLite (multi-row INSERTs) and PostgreSQL (COPY)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from designer.db import transaction
from designer.imports.inserts import insert_values
from designer.models import Firing

AT = datetime(2026, 3, 15, 2, 30, 15, 123456, tzinfo=UTC)
#: firings as the bulk planners write them: JSON payloads, aware timestamps in and out of UTC, NULLs, and
#: the characters COPY escapes on PostgreSQL
ROWS = [
    {"kind": "reminder", "record_id": 1, "due_at": AT, "status": "pending",
     "payload": {"policy": "visit", "due": AT.isoformat(), "reminder": 0, "step": 0, "名": "客户"},
     "bundle_version": 3, "outcome": "", "attempts": 0, "created_at": AT},
    {"kind": "reclassify", "record_id": None, "due_at": AT.astimezone(timezone(timedelta(hours=8))),
     "status": "pending", "payload": {}, "bundle_version": None, "outcome": "why\nnot", "attempts": 2,
     "created_at": AT + timedelta(days=400)},
    {"kind": "followup", "record_id": 7, "due_at": AT, "status": "pending",  # what COPY's text format escapes
     "payload": {"note": "tab\there, back\\slash, \\N, end of line\n", "none": None}, "bundle_version": 1,
     "outcome": "a\\b\tc", "attempts": 0, "created_at": AT},
]
COLUMNS = [c for c in Firing.__table__.columns if c.name not in ("id", "key")]


def _stored(s, prefix: str) -> list[tuple]:
    return [tuple(row) for row in s.execute(select(*COLUMNS).where(Firing.key.startswith(prefix))
                                            .order_by(Firing.key))]


def test_insert_values_stores_what_insert_stores(app):
    with transaction(app) as s:
        s.execute(insert(Firing.__table__), [{"key": f"core:{i}", **row} for i, row in enumerate(ROWS)])
        insert_values(s, Firing.__table__, [{"key": f"fast:{i}", **row} for i, row in enumerate(ROWS)])
    with transaction(app) as s:
        assert _stored(s, "fast:") == _stored(s, "core:")
        assert len(_stored(s, "fast:")) == len(ROWS)


def test_insert_values_wants_every_column_with_a_default(app):
    row = {k: v for k, v in ROWS[0].items() if k != "attempts"}
    with transaction(app) as s, pytest.raises(ValueError, match="attempts"):
        insert_values(s, Firing.__table__, [{"key": "fast:x", **row}])


def test_insert_values_of_more_rows_than_one_statement_holds(app):
    """SQLite sends many rows a statement, as many as its limit on bound values allows: every row arrives."""
    rows = [{"key": f"many:{i:05d}", **ROWS[i % 2]} for i in range(1_234)]
    with transaction(app) as s:
        insert_values(s, Firing.__table__, rows)
    with transaction(app) as s:
        keys = s.scalars(select(Firing.key).where(Firing.key.startswith("many:")).order_by(Firing.key)).all()
    assert keys == [row["key"] for row in rows]


def test_records_inserted_many_a_statement_are_found_by_title(app):
    """The title search index (an FTS5 table a trigger writes, on SQLite) holds every title a batch inserted."""
    from designer.imports.inserts import binder, insert_rows
    from designer.models import Record
    from designer.records.search import title_filter
    with transaction(app) as s:
        at = binder(s, Record.__table__.c.created_at)(AT)
        insert_rows(s, Record.__table__, [
            {"id": 10_000 + i, "object": "customer", "parent_id": None, "owner": None,
             "title": f"杭州第{i:04d}号智云科技有限公司", "data": "{}", "computed": "{}", "explain": "{}",
             "bundle_version": None, "created_at": at, "updated_at": at, "version": 1} for i in range(1_100)])
    with transaction(app) as s:
        found = s.scalars(title_filter(s, select(Record.id), "customer", "第0777号智云")).all()
        assert found == [10_777]
        assert len(s.scalars(title_filter(s, select(Record.id), "customer", "智云科技")).all()) == 1_100
