"""A reclassification's chunks computed by helper processes beside the publish's own connection (and an
impact preview's, counted in the helpers: designer.bundles.impact).

The SELECT that computes a chunk's new values and explanations is nearly all
of a bulk reclassification (at a million customers on SQLite, about 35 of
40 s), and it runs on one core: SQLite computes a statement in the calling
thread, PostgreSQL in the connection's one backend (its own parallel workers
would each group every child again: `bulk.tuned` turns them off). Threads
with a SQLite connection each were no faster than one thread (the chunks of
100,000 customers: 6.2–9.6 s with one, 10.9–12.8 s with two: something in
the library serialises them, likely the mutex of its allocation statistics);
processes were (8.7 → 4.9 s). So with helpers, each helper process keeps a connection of its
own and computes whole chunks — the rows whose values or explanations
changed — while the publish's connection writes the chunks before them
(temporary table, history rows, UPDATE) in its transaction, as it does
alone.

The helpers read what is committed. Only a transaction that has written no
records may use them (a publish job, `tierwise publish`: what they compare
with is then what the publish's own transaction sees), and they are started
only for objects of more than `FEW` records (starting one costs about a
second: a fresh interpreter). A helper that fails — it cannot connect, or on
PostgreSQL it waits more than `LOCK_TIMEOUT` behind a lock the publish
holds — leaves its chunk and every later one to the publish's connection:
`chunks` then yields None for them. A publish's process killed outright
leaves no helper behind (`orphans`).
"""
from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from sqlalchemy import text
from sqlalchemy.orm import Session

from .. import orphans

#: records of an object below which the helpers are not worth their start
FEW = 60_000
#: how long a helper's statement waits for a lock on PostgreSQL before the chunk falls back to the publish
LOCK_TIMEOUT = "5s"

log = logging.getLogger(__name__)
_connection = None


def _open(url: str, settings: dict[str, dict[str, str]]):
    """In a helper: its one connection, with the bulk settings of its database (`settings` by dialect) for as
    long as it lives."""
    global _connection
    from sqlalchemy.pool import NullPool

    from ..db import make_engine
    orphans.watch()
    engine = make_engine(url, poolclass=NullPool)
    _connection = engine.connect()
    if engine.dialect.name == "postgresql":
        for name, value in {**settings["postgresql"], "lock_timeout": LOCK_TIMEOUT}.items():
            _connection.execute(text("SELECT set_config(:n, :v, false)"), {"n": name, "v": value})
    else:
        for name, value in settings["sqlite"].items():
            _connection.execute(text(f"PRAGMA {name} = {int(value)}"))
    _connection.commit()


def _compute(sql: str, params: dict, reduce: Callable | None = None):
    """In a helper: the rows of one chunk's SELECT (or what `reduce` makes of them as they stream), its read
    transaction ended before they are returned."""
    try:
        result = _connection.execute(text(sql), params)
        return [tuple(row) for row in result] if reduce is None else reduce(result)
    finally:
        _connection.rollback()


def url_of(session: Session) -> str | None:
    """The URL the helpers connect with — the database of `session`, password included — or None when they
    cannot read what it reads: a SQLite database in memory, or on PostgreSQL when this transaction holds
    the records table exclusively (the publish dropped an index on it: a helper would wait for the commit,
    which waits for the helper)."""
    url = session.get_bind().engine.url
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or "mode=memory" in str(url):
            return None
    elif session.scalar(text("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND granted "
                             "AND mode = 'AccessExclusiveLock' AND relation = 'records'::regclass)")):
        return None
    return url.render_as_string(hide_password=False)


class Helpers:
    """`n` helper processes connected to `url`, computing chunks in order."""

    def __init__(self, url: str, n: int, settings: dict[str, dict[str, str]]):
        self.n = n
        # spawned, not forked: the web process that publishes runs threads (a fork copies their held locks)
        self.pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_open, initargs=(url, settings))

    def chunks(self, sql: str, params: list[dict], reduce: Callable | None = None) -> Iterator:
        """Each chunk's rows (or what `reduce`, a function a helper can import, makes of them) in order, with
        up to `n` + 1 chunks handed to the helpers ahead of the one read; None for the chunk on which a helper
        (or starting one) failed and for every one after it: the caller computes those itself."""
        ahead: deque[Future] = deque()
        todo = deque(params)
        try:
            while ahead or todo:
                while todo and len(ahead) <= self.n:
                    ahead.append(self.pool.submit(_compute, sql, todo[0], reduce))
                    todo.popleft()  # only once it is handed over
                rows = ahead[0].result()
                ahead.popleft()
                yield rows
        except Exception as exc:  # noqa: BLE001  (any failure of a helper: the publish computes the rest)
            log.warning("a helper failed, this connection computes the remaining chunks: %s",
                        (str(exc).splitlines() or [type(exc).__name__])[0])
            self.close(wait=False)
            for _ in range(len(ahead) + len(todo)):
                yield None

    def close(self, wait: bool = True):
        self.pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
