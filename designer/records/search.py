"""Substring search on record titles ("智云" finds 杭州智云科技有限公司) that stays fast at a million records.

Queries of three characters or more use a trigram index: SQLite's FTS5 table
`records_title` (migration 0002) or PostgreSQL's pg_trgm GIN index, which the
planner picks for ILIKE on its own. A term that matches very many titles is
cheaper to find by walking the list newest-first until a page is full, so on
SQLite the index is used only when the term is rare enough; shorter terms are
matched by that walk too.
"""
from __future__ import annotations

from sqlalchemy import column, text
from sqlalchemy.orm import Session

from ..models import Record

#: A term with more hits than this is found faster by the newest-first walk than through the index.
RARE = 5_000
_fts: dict[str, bool] = {}


def title_filter(session: Session, stmt, object_key: str, q: str):
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    stmt = stmt.where(Record.title.ilike(pattern, escape="\\"))
    bind = session.get_bind()
    if len(q) < 3 or bind.dialect.name != "sqlite" or not _has_fts(session):
        return stmt
    phrase = '"' + q.replace('"', '""') + '"'
    hits = session.execute(text("SELECT count(*) FROM (SELECT 1 FROM records_title WHERE records_title MATCH :p "
                                "LIMIT :n)"), {"p": phrase, "n": RARE}).scalar()
    if hits >= RARE:
        return stmt
    matches = text("SELECT rowid FROM records_title WHERE records_title MATCH :phrase").bindparams(phrase=phrase)
    return stmt.where(Record.id.in_(matches.columns(column("rowid"))))


def _has_fts(session: Session) -> bool:
    key = session.get_bind().url.render_as_string(hide_password=False)
    if key not in _fts:
        _fts[key] = session.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'records_title'")).first() is not None
    return _fts[key]
