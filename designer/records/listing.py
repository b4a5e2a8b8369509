"""List queries: scope, filters by classification value, title search, sorting and keyset pagination.

Everything runs in the database. Filters use the same expressions as the
per-classification indexes (`bundles.indexes.value_expr`); pages are keyset
("after this row"), so page 2,000 costs what page 1 costs, at a million
records.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from ..auth.scope import visible
from ..bundles.indexes import value_expr
from ..models import Record
from . import search

SORTS = ("-updated", "updated", "title", "-title", "-created", "created")


@dataclass
class Page:
    records: list
    #: classification key -> chosen value ('' for all)
    filters: dict = field(default_factory=dict)
    q: str = ""
    sort: str = "-updated"
    next_cursor: str | None = None
    expr: str = ""
    expr_error: dict | None = None
    #: listing the public pools instead of the user's own records
    pooled: bool = False


def _encode(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def _decode(cursor: str):
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def query(session: Session, cur, obj, user, args, *, size: int = 50, columns: tuple | None = None) -> Page:
    """A page of the list `args` describe (filters, search, expression, sort, `after` cursor) as `user` sees it.

    `columns`: the page's records as rows of these columns of `Record` (its id, title and times among them,
    which the cursor reads), not as objects of the session: an export reads a million of them."""
    page, stmt = _filtered(session, cur, obj, user, args)
    column = {"updated": Record.updated_at, "title": func.coalesce(Record.title, ""),
              "created": Record.created_at}[page.sort.lstrip("-")]
    descending = page.sort.startswith("-")
    cursor = _decode(args.get("after", "")) if args.get("after") else None
    if isinstance(cursor, list) and len(cursor) == 2 and isinstance(cursor[1], int):
        value, last_id = cursor
        if page.sort.lstrip("-") in ("updated", "created"):
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                value = None  # a cursor that was not ours: start from the first page
        elif not isinstance(value, str):
            value = None
    else:
        value = None
    if value is not None:
        if descending:
            stmt = stmt.where(or_(column < value, and_(column == value, Record.id < last_id)))
        else:
            stmt = stmt.where(or_(column > value, and_(column == value, Record.id > last_id)))
    order = (column.desc(), Record.id.desc()) if descending else (column.asc(), Record.id.asc())
    stmt = stmt.order_by(*order).limit(size + 1)
    rows = session.scalars(stmt).all() if columns is None else session.execute(stmt.with_only_columns(*columns)).all()
    page.records = rows[:size]
    if len(rows) > size:
        last = page.records[-1]
        value = {"updated": last.updated_at, "title": last.title or "", "created": last.created_at}[page.sort.lstrip("-")]
        page.next_cursor = _encode([value.isoformat() if hasattr(value, "isoformat") else value, last.id])
    return page


def count(session: Session, cur, obj, user, args) -> int:
    """How many records the list `args` describe (what an export of it writes); 0 if its expression is wrong."""
    page, stmt = _filtered(session, cur, obj, user, args)
    if page.expr_error:
        return 0
    return session.scalar(stmt.with_only_columns(func.count()).order_by(None))


def _filtered(session: Session, cur, obj, user, args) -> tuple[Page, object]:
    """The list's page settings and its SELECT of records, filtered (scope, values, search, expression)."""
    dialect = session.get_bind().dialect.name
    # `object` alone picks top-level rows (children have their own object key); a `parent_id IS NULL` test
    # here would lead SQLite to walk the parent_id index over every top-level record.
    page_pooled = args.get("pool") == "1"
    stmt = visible(select(Record).where(Record.object == obj.key), session, user, pooled=page_pooled)
    page = Page([], sort=args.get("sort") if args.get("sort") in SORTS else "-updated", pooled=page_pooled)
    for c in cur.bundle.classifications_of(obj.key):
        if c.hit == "sum":
            low = args.get(f"c.{c.key}.min", "")
            page.filters[f"{c.key}.min"] = low
            try:
                stmt = stmt.where(value_expr(dialect, c.key, numeric=True) >= float(low)) if low else stmt
            except ValueError:
                pass
            continue
        chosen = args.get(f"c.{c.key}", "")
        page.filters[c.key] = chosen
        if not chosen:
            continue
        if c.hit == "collect":
            stmt = stmt.where(_contains(dialect, c.key, chosen))
        elif chosen == "(empty)":
            stmt = stmt.where(value_expr(dialect, c.key).is_(None))
        elif c.type == "number":
            try:
                stmt = stmt.where(value_expr(dialect, c.key, numeric=True) == float(chosen))
            except ValueError:
                continue
        else:
            stmt = stmt.where(value_expr(dialect, c.key) == chosen)
    page.q = (args.get("q") or "").strip()[:100]
    if page.q:
        stmt = search.title_filter(session, stmt, obj.key, page.q)
    page.expr = (args.get("expr") or "").strip()
    if page.expr:
        from .expression_filter import where_clause
        clause, page.expr_error = where_clause(session, cur.bundle, obj.key, page.expr)
        if clause is not None:
            stmt = stmt.where(clause)
    return page, stmt


def _contains(dialect: str, key: str, value: str):
    """A `collect` classification (a list of tags) holds `value`."""
    if dialect == "postgresql":
        return text(f"(records.computed -> '{key}') ? :tag").bindparams(tag=value)
    return text(f"EXISTS (SELECT 1 FROM json_each(records.computed, '$.{key}') WHERE json_each.value = :tag)")\
        .bindparams(tag=value)
