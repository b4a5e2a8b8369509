"""Expression indexes over classification values, made by publishing.

Lists filter by tier on every page; records keep classifications in a JSON
column, so each classification of a top-level object gets a partial index on
exactly the expression the list queries use (`value_expr`): an index scan on
SQLite and PostgreSQL alike, with no DDL per field.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import literal_column, text
from sqlalchemy.orm import Session

PREFIX = "ix_records_c_"


def value_sql(dialect: str, key: str, numeric: bool = False, column: str = "computed", table: str = "records.") -> str:
    """SQL for a classification's value, written the same way as its index (keys are ``^[a-z][a-z0-9_]*$``)."""
    if not (key.replace("_", "").isalnum() and key.isascii()):
        raise ValueError(f"not a key: {key!r}")
    if dialect == "postgresql":
        sql = f"({table}{column} ->> '{key}')"
        return f"({sql}::numeric)" if numeric else sql
    return f"json_extract({table}{column}, '$.{key}')"


def value_expr(dialect: str, key: str, numeric: bool = False, column: str = "computed"):
    return literal_column(value_sql(dialect, key, numeric, column))


def _name(obj: str, key: str) -> str:
    name = f"{PREFIX}{obj}_{key}"
    if len(name) > 60:
        name = PREFIX + hashlib.sha1(f"{obj}.{key}".encode()).hexdigest()[:20]
    return name


def sync(session: Session, bundle):
    """Create the indexes the bundle's classifications need and drop those no classification needs any more."""
    dialect = session.get_bind().dialect.name
    wanted = {}
    for c in bundle.classifications:
        if bundle.objects[c.object].parent is None and c.hit != "collect":
            wanted[_name(c.object, c.key)] = (c.object, c.key, c.type == "number")
    present = existing(session, dialect)
    for name in present - set(wanted):
        session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    for name, (obj, key, numeric) in wanted.items():
        if name in present:
            continue
        expr = value_sql(dialect, key, numeric, table="")  # index expressions name no table
        session.execute(text(f'CREATE INDEX IF NOT EXISTS "{name}" ON records ({expr}, updated_at) '
                             f"WHERE object = '{obj}'"))


def existing(session: Session, dialect: str) -> set[str]:
    if dialect == "postgresql":
        rows = session.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'records' "
                                    "AND schemaname = current_schema()"))
    else:
        rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'"))
    return {r[0] for r in rows if r[0].startswith(PREFIX)}
