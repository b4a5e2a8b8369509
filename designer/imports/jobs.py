"""Import jobs: creating them, queueing and resuming, the background thread, and progress for the page.

The web page runs an import in a background thread of the web process (a
durable worker comes later) and polls its progress. Progress lives in the
`import_jobs` row, which partial imports update with every committed batch;
between batches, and throughout an all-or-nothing import on SQLite (whose
one writer is the import itself), the running thread's own count is shown.
A job whose thread is gone (the process was killed) is told apart from a
running one by its heartbeat, and can be resumed.
"""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..clock import now
from ..models import ImportJob
from ..runs import Live, Runs
from .sheets import Table

#: a job whose heartbeat is older than this, and that no thread of this process runs, was interrupted
STALE_AFTER = timedelta(minutes=2)
#: statuses after which nothing more happens (an interrupted job may be resumed)
FINAL = ("done", "failed")
MODES = ("all", "partial")
DUPLICATES = ("skip", "update", "new")


class JobBusy(RuntimeError):
    """The job is running elsewhere, finished, or was never set up: it cannot be started or resumed."""


_runs = Runs()


def live(app: Flask, job_id: int) -> Live | None:
    return _runs.get(app, job_id)


def tracking(app: Flask, job_id: int) -> Live:
    """Register a run of `job_id` in this process (the runner reports its count to it)."""
    return _runs.add(app, job_id)


def untrack(app: Flask, job_id: int):
    _runs.remove(app, job_id)


def tables(job: ImportJob) -> list[tuple[str, Table, dict]]:
    """(stage, table, its part of the options) for the parents and, if any, the children."""
    options = job.options or {}
    out = [("parents", Table(Path(job.path), options.get("sheet")), options)]
    child = options.get("child")
    if child:
        out.append(("children", Table(Path(child["path"]), child.get("sheet")), child))
    return out


def resumable(app: Flask, job: ImportJob) -> bool:
    """May the job be (re)started: interrupted, or left `running`/`queued` by a process that is gone."""
    if job.status == "interrupted":
        return True
    if job.status not in ("running", "queued") or live(app, job.id) is not None:
        return False
    return job.heartbeat_at is None or job.heartbeat_at < now() - STALE_AFTER


def queue(session: Session, app: Flask, job: ImportJob) -> None:
    """Move a draft or resumable job to `queued`, atomically: of two resumes of one job, one wins."""
    if job.status == "draft" and not (job.options or {}).get("columns"):
        raise JobBusy(f"import {job.id} has no column mapping yet; map its columns on its page first")
    if job.status != "draft" and not resumable(app, job):
        raise JobBusy(f"import {job.id} is {job.status}; it cannot be started again")
    stmt = update(ImportJob).where(ImportJob.id == job.id, ImportJob.status == job.status)
    stmt = stmt.where(ImportJob.heartbeat_at.is_(None) if job.heartbeat_at is None else
                      ImportJob.heartbeat_at == job.heartbeat_at)
    if session.execute(stmt.values(status="queued", heartbeat_at=now())).rowcount != 1:
        raise JobBusy(f"import {job.id} was started by someone else")
    session.commit()


def start(app: Flask, job_id: int) -> threading.Thread:
    """Run a queued job in a background thread of this process."""
    from .runner import run
    entry = tracking(app, job_id)

    def work():
        try:
            run(app, job_id, progress=lambda done, total: _count(entry, done, total))
        except Exception:  # recorded on the job (interrupted) by the runner; the thread just ends
            app.logger.exception("import %s was interrupted", job_id)
        finally:
            untrack(app, job_id)

    thread = threading.Thread(target=work, name=f"tierwise-import-{job_id}", daemon=True)
    entry.thread = thread
    thread.start()
    return thread


def _count(entry: Live, done: int, total: int):
    entry.done, entry.total = done, total


def wait(app: Flask, job_id: int, timeout: float = 120) -> None:
    """Wait for this process's thread running `job_id` (tests, and a clean shutdown)."""
    _runs.join(app, job_id, timeout)


def state(app: Flask, job: ImportJob) -> dict:
    """The job's progress as the page polls it."""
    entry = live(app, job.id)
    done, total = job.done, job.total
    if entry is not None and job.status not in FINAL:
        done, total = max(done, entry.done), max(total, entry.total)
    return {"id": job.id, "status": job.status, "mode": job.mode, "total": total, "done": done,
            "imported": job.imported, "updated": job.updated, "skipped": job.skipped, "errors": job.errors,
            "finished": job.status in FINAL, "resumable": resumable(app, job),
            "message": (job.report or {}).get("message", "")}
