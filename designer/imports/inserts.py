"""Bulk INSERTs of rows whose JSON and timestamps the caller has already bound, for the batched import.

A Core `insert()` runs each value of each row through its column's type:
JSON serialised, timestamps converted. The batched import encodes a
record's values and explanation once, and some of that text twice over
(the classification history stores a part of the explanation:
`codecs.join_object` builds the whole from the parts), and every row of a
batch carries the same instant; so here JSON columns take the caller's text
as it is and timestamps the value `binder` gave once. On PostgreSQL the
rows go in with COPY (one stream, parsed once: a JSONB column reads the
text as JSON); on SQLite with an executemany INSERT of a copy of the table
whose JSON and timestamp columns pass values through. What is stored is
what the INSERT of the same values as objects stores.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import JSON, Column, MetaData, Table, Text, insert
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from ..models import UtcDateTime

#: JSON text of None in a JSON column (SQLAlchemy stores a JSON null, not SQL NULL)
NULL = "null"

_plain: dict[str, Table] = {}


def binder(session: Session, column: Column) -> Callable:
    """A value as the column's type hands it to the driver (a timestamp as SQLite stores it, say)."""
    dialect = session.get_bind().dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)


def insert_rows(session: Session, table: Table, rows: list[dict]):
    """INSERT `rows` (every row with the same keys; JSON columns as JSON text, timestamps as `binder` gives
    them) at once."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        session.execute(insert(_passing(table)), rows)
        return
    names = list(rows[0])
    quote = dialect.identifier_preparer.quote
    with session.connection().connection.driver_connection.cursor() as cursor, cursor.copy(
            f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[n] for n in names])


def _passing(table: Table) -> Table:
    """`table` with its JSON and timestamp columns passing bound values through (one per table, in a metadata
    of its own)."""
    if table.name not in _plain:
        _plain[table.name] = Table(table.name, MetaData(), *[
            Column(c.name, Text() if isinstance(c.type, JSON) else NullType() if isinstance(c.type, UtcDateTime)
                   else c.type) for c in table.columns])
    return _plain[table.name]
