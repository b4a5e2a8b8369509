"""Publishing from the web (the studio's page, the REST API) as a background job the client follows.

At a few thousand records a publish takes a moment; at a million it takes
minutes (every record reclassified in SQL, then, below `schedule.INLINE`
records, every record's follow-ups and firings planned),
longer than a request should wait — a proxy's or a client's timeout would
cut it — and too long to show nothing. The studio and the API start the
publish in a thread of the web process, wait a few seconds (a small
workspace gets its answer at once, as before) and otherwise answer with the
job, which the client polls for its phase and count.

The publish stays one transaction, so it is published whole or not at all;
the job row turns `done` inside it. The running thread's count lives in this
process (on SQLite the publish holds the only write lock, so nothing else can
write the row meanwhile); on PostgreSQL it is also written to the row with a
heartbeat, at most every few seconds, from a connection of its own, so any
web process can show it. A `running` row that no thread of this process runs
and whose heartbeat stopped was interrupted: its transaction rolled back with
the process, and nothing was published.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import BundleInvalid

from ..clock import now
from ..db import engine_of
from ..models import PublishJob
from ..runs import Live, Runs
from . import bulk
from .publish import publish

#: a running job whose heartbeat is older than this, and that no thread of this process runs, was interrupted
STALE_AFTER = timedelta(minutes=5)
#: least seconds between two progress writes to the row (PostgreSQL)
BEAT = 3.0
#: seconds the request waits for the publish before answering with the job instead
WAIT = 3.0
#: what an interrupted job says (the page shows its own words, translated)
GONE = "the process running it stopped; nothing was published"


class Busy(RuntimeError):
    """Another publish is running: one at a time."""

    def __init__(self, job: PublishJob):
        super().__init__(f"publish {job.id} by {job.username or '—'} is still running")
        self.job = job


_runs = Runs()


def live(app: Flask, job_id: int) -> Live | None:
    return _runs.get(app, job_id)


def interrupted(app: Flask, job: PublishJob) -> bool:
    """Is `job` marked running though nothing runs it any more?"""
    return _runs.stopped(app, job, STALE_AFTER)


def running(app: Flask, session: Session) -> PublishJob | None:
    """The publish running now, if any; running rows left by a process that is gone are marked interrupted."""
    for job in session.scalars(select(PublishJob).where(PublishJob.status == "running").order_by(PublishJob.id)):
        if not interrupted(app, job):
            return job
        job.status, job.finished_at = "interrupted", now()
        job.report = {"message": GONE}
    session.commit()
    return None


def start(app: Flask, session: Session, *, source: str, filename: str, actor: str | None, note: str,
          then: Callable[[Session, int], None] | None = None) -> PublishJob:
    """Record a publish of `source` (named `filename` in its problems) and run it in a background thread;
    `then(session, version)` runs in the publish's transaction once it has published (the studio marks its
    draft as based on the new version). Raises Busy if a publish is running."""
    other = running(app, session)
    if other is not None:
        raise Busy(other)
    job = PublishJob(username=actor, note=note, source=source, status="running", heartbeat_at=now())
    session.add(job)
    session.commit()
    entry = _runs.add(app, job.id)
    thread = threading.Thread(target=_work, args=(app, job.id, entry, filename, then),
                              name=f"tierwise-publish-{job.id}", daemon=True)
    entry.thread = thread
    thread.start()
    return job


def wait(app: Flask, job_id: int, timeout: float | None = None) -> None:
    """Wait up to `timeout` seconds (`WAIT` if not given) for this process's thread running `job_id`."""
    _runs.join(app, job_id, WAIT if timeout is None else timeout)


def _work(app: Flask, job_id: int, entry: Live, filename: str, then):
    factory = app.extensions["tierwise.sessions"]
    beat = _Beat(app, job_id, entry)
    try:
        with app.app_context():
            try:
                with factory() as s, s.begin():
                    job = s.get(PublishJob, job_id)
                    version = publish(s, job.source, filename, actor=job.username, note=job.note, now=now(),
                                      progress=beat, helpers=bulk.HELPERS).id
                    if then is not None:
                        then(s, version)
                    s.execute(update(PublishJob).where(PublishJob.id == job_id).values(  # `job` is expunged by now
                        status="done", version=version, finished_at=now(), phase=entry.phase, done=entry.done,
                        total=entry.total))
            except BundleInvalid as exc:
                _fail(factory, job_id, {"problems": [p.as_dict() for p in exc.problems]})
            except Exception as exc:  # a bug or the database went away: said on the job, nothing published
                app.logger.exception("publish %s failed", job_id)
                _fail(factory, job_id, {"message": f"{type(exc).__name__}: {exc}"})
    finally:
        _runs.remove(app, job_id)


def _fail(factory, job_id: int, report: dict):
    try:
        with factory() as s, s.begin():
            s.execute(update(PublishJob).where(PublishJob.id == job_id)
                      .values(status="failed", report=report, finished_at=now()))
    except Exception:  # the database itself is gone: the stopped heartbeat tells the page
        pass


class _Beat:
    """The publish's progress callback: counts in this process; on PostgreSQL also on the row, now and then."""

    def __init__(self, app: Flask, job_id: int, entry: Live):
        self.engine, self.job_id, self.entry = engine_of(app), job_id, entry
        self.shared = self.engine.dialect.name != "sqlite"
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int):
        e = self.entry
        e.phase, e.done, e.total = phase, done, total
        if self.shared and time.monotonic() - self.last >= BEAT:
            self.last = time.monotonic()
            with self.engine.begin() as conn:
                conn.execute(update(PublishJob).where(PublishJob.id == self.job_id)
                             .values(phase=phase, done=done, total=total, heartbeat_at=now()))


def state(app: Flask, job: PublishJob) -> dict:
    """The job as the page polls it."""
    entry = live(app, job.id)
    status = "interrupted" if interrupted(app, job) else job.status
    phase, done, total = job.phase, job.done, job.total
    if entry is not None and status == "running":
        phase, done, total = entry.phase, entry.done, entry.total
    report = job.report or {}
    return {"id": job.id, "status": status, "phase": phase, "done": done, "total": total, "version": job.version,
            "by": job.username, "started_at": job.created_at.isoformat(),
            "finished": status in ("done", "failed", "interrupted"),
            "message": report.get("message") or (GONE if status == "interrupted" else ""),
            "problems": report.get("problems", [])}
