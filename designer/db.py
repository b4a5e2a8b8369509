"""The database: one SQLAlchemy engine per app, a session per request, SQLite or PostgreSQL by URL.

`DATABASE_URL` picks the database; without it the workspace lives in a SQLite
file in the instance folder (zero setup). JSON columns are written and read
with exact decimals, so money never passes through float.
"""
from __future__ import annotations

from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine import codecs


def make_engine(url: str, **kw) -> Engine:
    """An engine for `url` with our JSON codecs; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    engine = create_engine(url, json_serializer=codecs.dumps, json_deserializer=codecs.loads, **kw)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def init_app(app: Flask):
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["tierwise.db"] = engine
    app.extensions["tierwise.sessions"] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine_of(app: Flask | None = None) -> Engine:
    return (app or current_app).extensions["tierwise.db"]


def session() -> Session:
    """The request's session (opened on first use, closed when the request ends)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["tierwise.sessions"]()
    return g.db_session


@contextmanager
def transaction(app: Flask | None = None):
    """A session of its own that commits on success and rolls back on error (CLI, background work)."""
    factory = (app or current_app).extensions["tierwise.sessions"]
    with factory() as s, s.begin():
        yield s


def _close_session(_exc):
    s = g.pop("db_session", None)
    if s is not None:
        s.close()
