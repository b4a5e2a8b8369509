"""Workers: run what falls due on the durable schedule, exactly once, whatever crashes or extra workers happen.

A tick claims the pending firings due up to its instant, a batch per
transaction, oldest first, and runs each one's handler inside that same
transaction: the handler's effects in the database (notifications, tasks,
owner changes, history, the next firings) commit together with the firing's
`done` or `cancelled` and its outcome, or not at all. Then it hands the
outbox (e-mail, webhooks) to `notify.deliver_outbox`, outside any claim.

On PostgreSQL the claim is `SELECT … FOR UPDATE SKIP LOCKED`: any number of
workers on any number of hosts take disjoint batches, and the row locks are
the claims — a worker killed mid-batch has its transaction aborted by the
server, its locks vanish, and the same rows are claimed again by whoever
ticks next. Nothing is lost and nothing runs twice. There procrastinate
(`procrastinate_app`) decides when and where `drain` runs; `run` below is
the plain loop (SQLite, or `--engine loop`).

SQLite has no row locks, so one worker runs at a time: it holds the
`WorkerLease` row named `worker`, renewed while it runs; a second one waits
for the lease (or, with `--once`, refuses) and takes over once the holder
has stopped renewing it.

Each firing runs in a SAVEPOINT: a handler that raises `Cancel` or fails
leaves nothing behind; a failure is retried with backoff and marked
`failed` after MAX_ATTEMPTS, the error kept as its outcome.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from .. import clock
from ..bundles.workspace import NoBundle, current
from ..models import Firing, WorkerLease
from . import notify
from .schedule import CHUNKED, HANDLERS, Cancel

log = logging.getLogger("tierwise.worker")

#: firings claimed per transaction
BATCH = 200
#: attempts before a failing firing is marked `failed`
MAX_ATTEMPTS = 5
#: the longest wait before a failing firing is tried again (kinds retried until done wait this at most)
RETRY_CAP = timedelta(hours=1)
#: a SQLite worker's lease lasts this long unless renewed (each batch and each tick renew it)
LEASE = timedelta(seconds=30)
LEASE_NAME = "worker"
#: SQLite has one write lock: a pause between batches lets web requests (and a waiting worker) write too
SQLITE_PAUSE = 0.01


#: kind -> batch handler(session, current, firings, now) -> {firing id: outcome text or Cancel}: runs a whole
#: claimed batch of one kind at once (a few statements instead of a dozen per firing); the per-firing handler
#: stays the fallback should it fail. The firings are marked with their outcomes afterwards, so a batch handler
#: must not re-plan their records through the planners (which would see them still pending).
BATCH_HANDLERS: dict = {}


def batch_handler(kind: str):
    def register(fn):
        if kind in BATCH_HANDLERS:
            raise RuntimeError(f"batch handler for `{kind}` registered twice")
        BATCH_HANDLERS[kind] = fn
        return fn
    return register


class LeaseHeld(Exception):
    """Another worker holds the SQLite lease."""

    def __init__(self, holder: str, expires_at: datetime):
        self.holder, self.expires_at = holder, expires_at
        super().__init__(f"another worker ({holder}) is running on this SQLite database; its lease runs until "
                         f"{expires_at.isoformat()} (stop it, or use PostgreSQL to run several workers)")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _factory(app):
    return app.extensions["tierwise.sessions"]


def _sqlite(app) -> bool:
    return app.extensions["tierwise.db"].dialect.name == "sqlite"


# -- the SQLite lease -------------------------------------------------------------------------------------


def acquire_lease(app, holder: str, patience: float = 120.0) -> None:
    """Take or renew the lease; raises LeaseHeld while another live worker holds it.

    Taking it writes, so it waits for SQLite's write lock, retrying for up to `patience` seconds when
    the busy timeout runs out (a worker draining a long backlog holds the lock most of the time).
    """
    give_up = time.monotonic() + patience
    while True:
        try:
            return _take_lease(app, holder)
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def _take_lease(app, holder: str) -> None:
    now = clock.now()
    with _factory(app)() as s:
        s.connection().exec_driver_sql("BEGIN IMMEDIATE")
        row = s.get(WorkerLease, LEASE_NAME)
        if row is not None and row.holder != holder and row.expires_at > now:
            s.rollback()
            raise LeaseHeld(row.holder, row.expires_at)
        if row is None:
            s.add(WorkerLease(name=LEASE_NAME, holder=holder, expires_at=now + LEASE))
        else:
            row.holder, row.expires_at = holder, now + LEASE
        s.commit()


def release_lease(app, holder: str) -> None:
    with _factory(app)() as s, s.begin():
        row = s.get(WorkerLease, LEASE_NAME)
        if row is not None and row.holder == holder:
            s.delete(row)


# -- running firings --------------------------------------------------------------------------------------


def drain(app, as_of: datetime, *, batch: int = BATCH, on_batch=None, stop=None) -> Counter:
    """Run every firing due up to `as_of`, batch after batch, until none is left; counts by outcome status.

    Firings planned by handlers that are themselves due by `as_of` (the next reminder of a chain, after
    downtime) run in the same call. `stop()` is asked between batches (a worker told to stop finishes the
    batch it holds).
    """
    from . import subsystems  # noqa: F401  (importing them registers their handlers)
    counts: Counter = Counter()
    sqlite = _sqlite(app)
    while not (stop is not None and stop()):
        with _factory(app)() as s:
            if sqlite:
                if s.scalar(_due(as_of, 1)) is None:  # nothing due: no write lock taken
                    break
                s.rollback()
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            rows = _claim(s, as_of, batch, sqlite)
            if not rows:
                break
            try:
                cur = current(s)
            except NoBundle:
                break
            run_batch(s, cur, rows, as_of, counts)
            s.commit()
        if on_batch is not None:
            on_batch()
        if sqlite:
            time.sleep(SQLITE_PAUSE)
    return counts


def _due(as_of: datetime, limit: int):
    return (select(Firing).where(Firing.status == "pending", Firing.due_at <= as_of)
            .order_by(Firing.due_at, Firing.id).limit(limit))


def _claim(session: Session, as_of: datetime, batch: int, sqlite: bool) -> list[Firing]:
    """The batch this transaction runs: up to `batch` firings due, oldest first, of which one at most of each
    chunked kind (a chunk of a long job, about a second's work: several workers take one each); on
    PostgreSQL locked, skipping what other workers hold."""
    def locked(query):
        return query if sqlite else query.with_for_update(skip_locked=True)
    rows = list(session.scalars(locked(_due(as_of, batch).where(Firing.kind.not_in(CHUNKED)) if CHUNKED
                                       else _due(as_of, batch))))
    for kind in sorted(CHUNKED):
        rows += session.scalars(locked(_due(as_of, 1).where(Firing.kind == kind))).all()
    return rows


def run_batch(session: Session, cur, rows: list[Firing], now: datetime, counts: Counter):
    """Run a claimed batch: each kind with a batch handler at once (in one SAVEPOINT), the rest one by one.

    Should a batch handler fail, its SAVEPOINT is rolled back and the firings run one by one, so one bad
    firing never holds up the others."""
    by_kind: dict[str, list[Firing]] = {}
    for firing in rows:
        by_kind.setdefault(firing.kind, []).append(firing)
    for kind, firings in by_kind.items():
        fn = BATCH_HANDLERS.get(kind)
        if fn is not None and len(firings) > 1:
            try:
                with session.begin_nested():
                    outcomes = fn(session, cur, firings, now)
                    finished: dict[tuple[str, str], list[int]] = {}
                    for firing in firings:
                        result = outcomes[firing.id]
                        status, outcome = ("cancelled", str(result)) if isinstance(result, Cancel) else \
                            ("done", result or "")
                        finished.setdefault((status, outcome[:4000]), []).append(firing.id)
                    for (status, outcome), ids in finished.items():  # one UPDATE per outcome, not per firing
                        session.execute(update(Firing).where(Firing.id.in_(ids))
                                        .values(status=status, outcome=outcome, finished_at=now,
                                                attempts=Firing.attempts + 1)
                                        .execution_options(synchronize_session=False))
                for (status, _outcome), ids in finished.items():
                    counts[status] += len(ids)
                continue
            except Exception:  # fall back to one by one, where the failing firing is isolated
                log.warning("batch of %d %s firings failed; running them one by one", len(firings), kind,
                            exc_info=True)
        for firing in firings:
            counts[run_one(session, cur, firing, now)] += 1


def run_one(session: Session, cur, firing: Firing, now: datetime) -> str:
    """Run one claimed firing in a SAVEPOINT of the batch's transaction; its final status."""
    firing.attempts = (firing.attempts or 0) + 1
    fn = HANDLERS.get(firing.kind)
    if fn is None:
        firing.status, firing.outcome, firing.finished_at = "failed", f"no handler for kind `{firing.kind}`", now
        return "failed"
    try:
        with session.begin_nested():
            # done before the handler runs, so planners it triggers never touch this row as a pending one
            firing.status, firing.finished_at = "done", now
            session.flush()
            firing.outcome = (fn(session, cur, firing, now) or "")[:4000]
    except Cancel as exc:
        firing.status, firing.outcome, firing.finished_at = "cancelled", str(exc)[:4000], now
        return "cancelled"
    except Exception as exc:  # a handler's bug or a bad value: keep the batch going, retry this one later
        log.exception("firing %s (%s) failed", firing.key, firing.kind)
        firing.outcome = f"{type(exc).__name__}: {exc}"[:4000]
        if firing.attempts >= MAX_ATTEMPTS and firing.kind not in CHUNKED:
            firing.status, firing.finished_at = "failed", now
            return "failed"
        firing.status, firing.finished_at = "pending", None
        firing.due_at = now + min(timedelta(minutes=2 ** min(firing.attempts, 6)), RETRY_CAP)
        return "retried"
    return "done"


def tick(app, as_of: datetime | None = None, *, batch: int = BATCH, on_batch=None, stop=None) -> Counter:
    """One tick: everything due up to `as_of` (default: now), then the outbox."""
    as_of = as_of or clock.now()
    with app.app_context():
        counts = drain(app, as_of, batch=batch, on_batch=on_batch, stop=stop)
        counts["sent"] = notify.deliver_outbox(_factory(app), as_of)
    return counts


def run(app, *, once: bool = False, as_of: datetime | None = None, interval: float = 1.0, batch: int = BATCH,
        name: str | None = None, stop=None, echo=print) -> Counter:
    """Run ticks until `stop()` is true (or one tick with `once`); the counts of the last tick.

    On SQLite the lease is taken first: a one-off run refuses (LeaseHeld) while another worker holds it,
    a long-running one waits for it.
    """
    holder = name or worker_name()
    sqlite = _sqlite(app)
    stop = stop or (lambda: False)
    if sqlite:
        while True:
            try:
                acquire_lease(app, holder)
                break
            except LeaseHeld as exc:
                if once:
                    raise
                echo(f"waiting: {exc}")
                time.sleep(min(LEASE.total_seconds() / 3, 10))
                if stop():
                    return Counter()
    renew = (lambda: acquire_lease(app, holder)) if sqlite else None
    try:
        while True:
            try:
                counts = tick(app, as_of, batch=batch, on_batch=renew, stop=stop)
            except OperationalError as exc:  # the database went away or was busy: nothing committed, try again
                if once:
                    raise
                log.warning("tick failed, retrying: %s", exc)
                counts = Counter()
            if once or stop():
                return counts
            if renew is not None:
                renew()
            if not any(counts.values()):
                time.sleep(interval)
    finally:
        if sqlite:
            release_lease(app, holder)
