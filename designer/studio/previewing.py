"""The impact preview as a background job the studio follows, as publishing is.

A preview reads every record with its children in the compiled SQL: a few
seconds at a hundred thousand records, a minute or more at a million —
longer than a request should hang with nothing to show, and than a proxy
waits. The studio starts it in a thread of the web process and waits a few
seconds (a small workspace gets its answer at once); otherwise it polls the
job for the count and takes the result from its row. Nothing is written
but the row. A newer preview by the same user stops the older one at its
next count, so that editing and previewing again does not pile up work.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from engine import Bundle

from ..bundles import bulk
from ..bundles.impact import preview
from ..bundles.workspace import NoBundle, current
from ..clock import now
from ..db import engine_of
from ..models import ImpactJob
from ..runs import Live, Runs
from .effects import effects

#: a running job whose heartbeat is older than this, and that no thread of this process runs, was interrupted
STALE_AFTER = timedelta(minutes=2)
#: least seconds between two progress writes to the row (PostgreSQL: any web process can show them)
BEAT = 2.0
#: seconds the request waits for the preview before answering with the job instead
WAIT = 3.0
#: how long a finished preview is kept
KEEP = timedelta(days=1)
FINAL = ("done", "failed", "interrupted", "superseded")

_runs = Runs()
#: (database URL, username) -> the id of that user's latest preview in this process
_latest: dict[tuple[str, str | None], int] = {}
_latest_lock = threading.Lock()


class _Superseded(Exception):
    """The same user started a newer preview: this one stops."""


def start(app: Flask, session: Session, bundle: Bundle, username: str | None) -> ImpactJob:
    """Record a preview of `bundle` (the draft, checked) and compute it in a background thread. Previews older
    than `KEEP` are deleted: a page asks for its result within seconds, and each holds a whole matrix."""
    session.execute(delete(ImpactJob).where(ImpactJob.created_at < now() - KEEP, ImpactJob.status != "running"))
    job = ImpactJob(username=username, status="running", created_at=now(), heartbeat_at=now())
    session.add(job)
    session.commit()
    entry = _runs.add(app, job.id)
    with _latest_lock:
        _latest[(str(engine_of(app).url), username)] = job.id
    thread = threading.Thread(target=_work, args=(app, job.id, entry, bundle, username),
                              name=f"tierwise-impact-{job.id}", daemon=True)
    entry.thread = thread
    thread.start()
    return job


def wait(app: Flask, job_id: int, timeout: float | None = None) -> None:
    """Wait up to `timeout` seconds (`WAIT` if not given) for this process's thread computing `job_id`."""
    _runs.join(app, job_id, WAIT if timeout is None else timeout)


def state(app: Flask, job: ImpactJob) -> dict:
    """The job as the page polls it (without the result)."""
    entry = _runs.get(app, job.id)
    status = "interrupted" if _runs.stopped(app, job, STALE_AFTER) else job.status
    done, total = job.done, job.total
    if entry is not None and status == "running":
        done, total = max(done, entry.done), max(total, entry.total)
    return {"id": job.id, "status": status, "done": done, "total": total, "finished": status in FINAL,
            "message": (job.report or {}).get("message", "")}


def _work(app: Flask, job_id: int, entry: Live, bundle: Bundle, username: str | None):
    factory = app.extensions["tierwise.sessions"]
    key = (str(engine_of(app).url), username)
    beat = _Beat(app, job_id, entry, lambda: _latest.get(key) != job_id)
    try:
        with app.app_context(), factory() as s:
            try:
                cur = current(s)
            except NoBundle:
                cur = None
            at = now()
            result = preview(s, cur, bundle, at, samples=5, progress=beat, helpers=bulk.HELPERS)
            result.update(effects(s, bundle, at))
            s.rollback()  # a preview writes nothing
            s.execute(update(ImpactJob).where(ImpactJob.id == job_id).values(
                status="done", result=result, done=result["records"], total=result["records"], finished_at=now()))
            s.commit()
    except _Superseded:
        _finish(factory, job_id, "superseded", {"message": "a newer preview was asked for"})
    except Exception as exc:  # the database went away, a bug: said on the job
        app.logger.exception("impact preview %s failed", job_id)
        _finish(factory, job_id, "failed", {"message": f"{type(exc).__name__}: {exc}"})
    finally:
        _runs.remove(app, job_id)
        with _latest_lock:
            if _latest.get(key) == job_id:
                del _latest[key]


def _finish(factory, job_id: int, status: str, report: dict):
    try:
        with factory() as s, s.begin():
            s.execute(update(ImpactJob).where(ImpactJob.id == job_id)
                      .values(status=status, report=report, finished_at=now()))
    except Exception:  # the database itself is gone: the stopped heartbeat tells the page
        pass


class _Beat:
    """The preview's progress callback: counts in this process; on PostgreSQL also on the row, now and then.
    Stops the preview when a newer one of the same user has started."""

    def __init__(self, app: Flask, job_id: int, entry: Live, superseded):
        self.engine, self.job_id, self.entry, self.superseded = engine_of(app), job_id, entry, superseded
        self.shared = self.engine.dialect.name != "sqlite"
        self.last = time.monotonic()

    def __call__(self, done: int, total: int):
        if self.superseded():
            raise _Superseded()
        self.entry.done, self.entry.total = done, total
        if self.shared and time.monotonic() - self.last >= BEAT:
            self.last = time.monotonic()
            with self.engine.begin() as conn:
                conn.execute(update(ImpactJob).where(ImpactJob.id == self.job_id)
                             .values(done=done, total=total, heartbeat_at=now()))
