"""Running the workers on PostgreSQL with procrastinate (a PostgreSQL task queue), on any number of hosts.

procrastinate keeps its jobs in the same database and hands each job to one
worker; it is what wakes the workers, spreads the work and survives their
restarts. What to do stays in our `schedule` table, and the exactly-once of
each firing stays with `worker.drain` (claims by `FOR UPDATE SKIP LOCKED`,
effects committed with the firing): a job only says "drain what is due".

- `tierwise.tick` is a periodic task, deferred once a second for the whole
  cluster (procrastinate deduplicates periodic deferrals across workers). It
  sends the outbox and, when something is due, defers one `tierwise.drain`
  job per worker slot (a `queueing_lock` per slot: a slot never queues twice).
- `tierwise.drain` runs `worker.drain` until nothing is due; with N workers
  up, N slots drain side by side.

A worker killed mid-job loses nothing: the server rolls back its open
transaction, and the firings are claimed again by the next drain.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import func, select, text

from .. import clock
from ..models import Firing

log = logging.getLogger("tierwise.worker")

QUEUE = "tierwise"
#: drain jobs deferred when something is due: the most workers that drain side by side
SLOTS = 8
#: any number works; the same on every host, so schema installs never run twice at once
_SCHEMA_LOCK = 7230017


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy one (options such as search_path are kept)."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix):]
    return database_url


def ensure_schema(flask_app):
    """Install procrastinate's tables beside ours once (under an advisory lock: workers start together)."""
    with flask_app.extensions["tierwise.db"].begin() as conn:
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"))
        if conn.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is None:
            conn.exec_driver_sql(procrastinate.schema.SchemaManager.get_schema().replace("%", "%%"))


def make_app(flask_app, *, batch: int, periodic: bool = True) -> procrastinate.App:
    """A procrastinate app on `flask_app`'s database whose tasks run in `flask_app` (the tick deferred every
    second with `periodic`)."""
    papp = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(flask_app.config["DATABASE_URL"])))
    totals: Counter = Counter()

    def due_now() -> bool:
        from . import notify
        with flask_app.app_context():
            notify.deliver_outbox(flask_app.extensions["tierwise.sessions"], clock.now())
            with flask_app.extensions["tierwise.sessions"]() as s:
                return bool(s.scalar(select(func.count()).select_from(
                    select(Firing.id).where(Firing.status == "pending", Firing.due_at <= clock.now()).limit(1)
                    .subquery())))

    async def tick(timestamp: int):
        """Once a second: send the outbox, and wake the drain slots when firings are due."""
        if await asyncio.to_thread(due_now):
            await defer_drains(None)
    if periodic:
        papp.periodic(cron="* * * * * *")(papp.task(queue=QUEUE, name="tierwise.tick", pass_context=False)(tick))

    @papp.task(queue=QUEUE, name="tierwise.drain", pass_context=False)
    def drain(as_of: str | None = None) -> dict:
        """Run every firing due (up to `as_of`, default now), batch after batch, as `tierwise worker` does."""
        from . import worker
        when = datetime.fromisoformat(as_of) if as_of else clock.now()
        with flask_app.app_context():
            counts = worker.drain(flask_app, when, batch=batch)
        totals.update(counts)
        log.info("drained: %s", dict(counts))
        return dict(counts)

    async def defer_drains(as_of: datetime | None, slots: int = SLOTS) -> int:
        """Queue one drain per slot (a slot already queued is left as it is); how many were queued."""
        queued = 0
        for slot in range(slots):
            try:
                await drain.configure(queueing_lock=f"tierwise-drain-{slot}").defer_async(
                    as_of=as_of.isoformat() if as_of else None)
                queued += 1
            except AlreadyEnqueued:
                pass
        return queued

    papp.defer_drains, papp.totals = defer_drains, totals
    return papp


def run(flask_app, *, once: bool, as_of: datetime | None, batch: int, name: str) -> Counter:
    """A procrastinate worker for `tierwise worker`; with `once`, drain what is due (up to `as_of`) and stop.
    The counts of the firings this process ran."""
    ensure_schema(flask_app)
    papp = make_app(flask_app, batch=batch, periodic=not once)

    async def main():
        async with papp.open_async():
            if once:
                await papp.defer_drains(as_of or clock.now())
            await papp.run_worker_async(queues=[QUEUE], wait=not once, name=name, concurrency=1,
                                        delete_jobs="successful")
    asyncio.run(main())
    return papp.totals
