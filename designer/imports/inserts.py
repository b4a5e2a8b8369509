"""Bulk INSERTs of rows whose JSON and timestamps the caller has already bound, for the batched import.

A Core `insert()` runs each value of each row through its column's type:
JSON serialised, timestamps converted. The batched import encodes a
record's values and explanation once, and some of that text twice over
(the classification history stores a part of the explanation:
`codecs.join_object` builds the whole from the parts), and every row of a
batch carries the same instant; so here JSON columns take the caller's text
as it is and timestamps the value `binder` gave once. On PostgreSQL the
rows go in with COPY (one stream, parsed once: a JSONB column reads the
text as JSON); on SQLite with INSERTs of many rows each (`_insert_sqlite`).
What is stored is what the INSERT of the same values as objects stores.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import JSON, Column, MetaData, Table, Text
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from ..models import UtcDateTime

#: JSON text of None in a JSON column (SQLAlchemy stores a JSON null, not SQL NULL)
NULL = "null"

_plain: dict[str, Table] = {}
#: rows per INSERT statement on SQLite (fewer where the columns times the rows would pass its limit on
#: bound values)
_ROWS = 500


def binder(session: Session, column: Column) -> Callable:
    """A value as the column's type hands it to the driver (a timestamp as SQLite stores it, say)."""
    dialect = session.get_bind().dialect
    return column.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)


def insert_rows(session: Session, table: Table, rows: list[dict]):
    """INSERT `rows` (every row with the same keys; JSON columns as JSON text, timestamps as `binder` gives
    them) at once."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, table, rows, bound=False)
    else:
        _insert_sqlite(session, _passing(table), rows)


def insert_values(session: Session, table: Table, rows: list[dict]):
    """INSERT `rows` of values as objects (JSON as dicts, timestamps as datetimes; every row with the same
    keys, among them every column with a default), as `insert(table)` stores them: each value through its
    column's type once, then on SQLite the rows many to a statement (`_insert_sqlite`), on PostgreSQL by
    COPY (an executemany there is a statement a row, pipelined: twice the time of COPY for the planners'
    schedule rows)."""
    if not rows:
        return
    missing = [c.name for c in table.columns if c.default is not None and c.name not in rows[0]]
    if missing:
        raise ValueError(f"insert_values into {table.name}: the rows lack {', '.join(missing)}, which "
                         f"`insert()` would fill with their defaults")
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, table, rows, bound=True)
    else:
        _insert_sqlite(session, table, rows)


def _processed(session: Session, table: Table, names: list[str], rows: list[dict]) -> list[list]:
    """The rows' values in `names` order, each through the bind processor its column's type has in `table`
    (as SQLAlchemy's executemany would, without its per-row bookkeeping)."""
    dialect = session.get_bind().dialect
    processors = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    if not any(processors):
        return [[row[n] for n in names] for row in rows]
    columns = [[row[n] for row in rows] if fn is None else _through(fn, [row[n] for row in rows])
               for n, fn in zip(names, processors)]
    return [list(row) for row in zip(*columns)]


def _through(processor: Callable, values: list) -> list:
    """`values` through a column's bind processor, each timestamp once: the rows of a batch share a few
    (its instant, the due times of a day), and SQLite's is a formatting in Python for every value."""
    seen: dict = {}
    out = []
    for v in values:
        if v.__class__ is datetime:
            bound = seen.get(v)
            if bound is None:
                bound = seen[v] = processor(v)
            out.append(bound)
        else:
            out.append(processor(v))
    return out


def _copy(session: Session, table: Table, rows: list[dict], *, bound: bool):
    """PostgreSQL: `rows` in one COPY stream (parsed once; a JSONB column reads the text as JSON); `bound`:
    their values are objects, to go through their columns' types first."""
    names = list(rows[0])
    quote = session.get_bind().dialect.identifier_preparer.quote
    values = _processed(session, table, names, rows) if bound else ([row[n] for n in names] for row in rows)
    with session.connection().connection.driver_connection.cursor() as cursor, cursor.copy(
            f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def _insert_sqlite(session: Session, table: Table, rows: list[dict]):
    """SQLite: `rows` inserted by the driver, each value through the bind processor its column's type has in
    `table` (`_processed`), as multi-row INSERTs.

    Several rows a statement, not one (an executemany steps one statement per row): the title search's
    FTS5 table, which a trigger on `records` writes, flushes the terms it holds in memory into a new
    segment of its index at the end of every statement that wrote it, and merges those segments as they
    pile up; row by row that was three quarters of a record's INSERT."""
    dialect = session.get_bind().dialect
    names = list(rows[0])
    values = _processed(session, table, names, rows)
    quote = dialect.identifier_preparer.quote
    connection = session.connection().connection.driver_connection
    per = max(1, min(_ROWS, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names)))
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "
    one = "(" + ", ".join("?" * len(names)) + ")"
    cursor = connection.cursor()
    try:
        for start in range(0, len(values), per):
            chunk = values[start:start + per]
            cursor.execute(head + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])
    finally:
        cursor.close()


def _passing(table: Table) -> Table:
    """`table` with its JSON and timestamp columns passing bound values through (one per table, in a metadata
    of its own)."""
    if table.name not in _plain:
        _plain[table.name] = Table(table.name, MetaData(), *[
            Column(c.name, Text() if isinstance(c.type, JSON) else NullType() if isinstance(c.type, UtcDateTime)
                   else c.type) for c in table.columns])
    return _plain[table.name]
