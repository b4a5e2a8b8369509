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
    # `_o`: the index ends with the owner (a scoped count is answered from the index alone); the suffix makes
    # publishing replace the indexes of older versions, which lacked it
    name = f"{PREFIX}{obj}_{key}_o"
    if len(name) > 60:
        name = PREFIX + hashlib.sha1(f"{obj}.{key}.o".encode()).hexdigest()[:20]
    return name


def sync(session: Session, bundle):
    """Create the indexes the bundle needs and drop those nothing needs any more.

    Besides one per classification, the dashboards' field indexes (the funnel's
    select field, the activities' time) share the prefix, so they are kept,
    made and dropped here too; and on PostgreSQL the data fields the dashboards'
    narrow value table copies (`dashboards.values`) follow the same bundle.
    """
    from ..dashboards import indexes as dashboard_indexes
    from ..dashboards import values as dashboard_values
    dialect = session.get_bind().dialect.name
    wanted = {}
    for c in bundle.classifications:
        if bundle.objects[c.object].parent is None and c.hit != "collect":
            expr = value_sql(dialect, c.key, c.type == "number", table="")  # index expressions name no table
            wanted[_name(c.object, c.key)] = (f'CREATE INDEX IF NOT EXISTS "{_name(c.object, c.key)}" ON records '
                                              f"({expr}, updated_at, owner) WHERE object = '{c.object}'")
    for name, spec in dashboard_indexes.wanted(bundle).items():
        wanted[name] = dashboard_indexes.statement(dialect, name, *spec)
    present = existing(session, dialect)
    for name in present - set(wanted):
        session.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    made = [name for name in wanted if name not in present]
    for name in made:
        session.execute(text(wanted[name]))
    if made:  # statistics of the new indexes: without them the planners keep to the indexes they know
        for statement in (["ANALYZE records"] if dialect == "postgresql" else [f'ANALYZE "{n}"' for n in made]):
            session.execute(text(statement))
    dashboard_values.sync(session, bundle)


def existing(session: Session, dialect: str) -> set[str]:
    if dialect == "postgresql":
        rows = session.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'records' "
                                    "AND schemaname = current_schema()"))
    else:
        rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'"))
    return {r[0] for r in rows if r[0].startswith(PREFIX)}
