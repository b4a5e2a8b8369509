"""Running an import job to its end, or resuming it: the transactions around the rows.

`all` (all-or-nothing): one transaction for the whole file, every row in a
SAVEPOINT so that each row's problems are found; if any row failed the
transaction rolls back and only the report is written. Killed half-way, it
has written nothing.

`partial`: batches of rows, each batch one transaction that also records the
rows' problems and the job's position (`stage`, `last_row`, the counts), so
what is committed and where to go on from always agree. A bad row is rolled
back to its SAVEPOINT and reported; a process killed mid-batch loses that
batch only, and a resume reads on after `last_row`: no row is written twice.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path

from flask import Flask
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..bundles.bulk import tuned
from ..bundles.workspace import current
from ..clock import now
from ..models import BundleVersion, ImportJob, ImportProblem, User
from . import ahead, choices
from .batch import save_many
from .jobs import JobBusy, tables
from .rows import Outcome, Rows
from .sheets import checksum

#: rows per committed batch (partial mode), per batched save and between clean-ups of the session
BATCH = 500
_KIND = {"failed": "error", "skipped": "skipped", "imported": "warning", "updated": "warning"}
_COUNT = {"failed": "errors", "skipped": "skipped", "imported": "imported", "updated": "updated"}
#: tables each batch looks rows up in (duplicate keys and their records, pending firings)
_LOOKED_UP = ("records", "duplicate_keys", "schedule")


def run(app: Flask, job_id: int, *, progress: Callable[[int, int], None] | None = None) -> ImportJob:
    """Run the queued job `job_id` in this thread; `progress(done, total)` is called after every batch.

    Returns the finished job. Anything unexpected (the database went away, a
    bug) marks the job `interrupted` and is raised; what was committed stays,
    and the job can be resumed.
    """
    with app.app_context(), _spared():  # the command line and the web's thread have no app context: actions need one
        return _run(app, job_id, progress)


@contextmanager
def _spared():
    """Keep what exists before the import (the app, the bundle and its compiled classifiers) out of the garbage
    collector's scans while the import allocates its rows, which otherwise walk it again and again (a tenth of
    the time); unfrozen afterwards, so that whatever of it has become garbage meanwhile is still collected."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(app: Flask, job_id: int, progress) -> ImportJob:
    factory = app.extensions["tierwise.sessions"]
    job, plan, bundle = _claim(factory, job_id)
    progress = progress or (lambda done, total: None)
    try:
        if not job.total:
            job.total = sum(table.count() for _stage, table, _rows in plan)
            _set(factory, job_id, total=job.total)
        size = int((job.options or {}).get("batch") or BATCH)
        helper = bundle if job.total - job.done >= app.config["IMPORT_AHEAD_FROM"] else None

        def batches(rows: Rows, pending):
            return ahead.batches(rows, pending, size, now, helper=helper)

        if job.mode == "all":
            _all_or_nothing(factory, job, plan, batches, progress)
        else:
            _partial(factory, job, plan, batches, progress)
    except Exception as exc:
        try:
            _set(factory, job_id, status="interrupted", report={"message": f"{type(exc).__name__}: {exc}"})
        except Exception:  # the database itself is gone: the stale heartbeat tells the job was interrupted
            pass
        raise
    with factory() as s:
        return s.get(ImportJob, job_id)


def _claim(factory, job_id: int) -> tuple[ImportJob, list, tuple[str, str]]:
    """Take the queued job (`running`, heartbeat now) and build what runs its tables; with the published
    bundle's (source, file name), from which a helper builds them again."""
    with factory() as s:
        job = s.get(ImportJob, job_id)
        if job is None or job.status != "queued":
            raise JobBusy(f"import {job_id} is not queued" if job else f"no import {job_id}")
        changed = s.execute(update(ImportJob).where(ImportJob.id == job_id, ImportJob.status == "queued")
                            .values(status="running", heartbeat_at=now()))
        if changed.rowcount != 1:
            raise JobBusy(f"import {job_id} was started by someone else")
        s.commit()
        cur = current(s)
        user = s.scalar(select(User).where(User.username == job.username)) if job.username else None
        published = s.get(BundleVersion, cur.version)
        bundle = (published.source, published.filename)
        s.expunge_all()
    job.status = "running"
    plan = []
    for stage, table, options in tables(job):
        expected = options.get("checksum")
        if expected and (not Path(table.path).is_file() or checksum(table.path) != expected):
            _set(factory, job_id, status="interrupted",  # the committed rows stay; the file cannot be read on
                 report={"message": f"{table.path.name} changed or is gone since the import began"})
            raise JobBusy(f"import {job_id}: {table.path.name} changed or is gone since the import began")
        rows = Rows(cur, options.get("object") or job.object, options["headers"], options["columns"], user=user,
                    owner=(job.options or {}).get("owner"), actor=job.username, duplicates=job.duplicates,
                    match=options.get("match"), choices=choices.stored(options.get("values")))
        plan.append((stage, table, rows))
    return job, plan, bundle


def _begin(session: Session):
    """Open the transaction explicitly on SQLite. pysqlite opens one lazily, at the first write, so a
    SAVEPOINT issued before any write would itself become the outer transaction and its RELEASE would
    commit; IMMEDIATE also takes the write lock up front instead of failing to upgrade a read later."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def _tuned(session: Session):
    """SQLite's bulk settings (`bundles.bulk.tuned`: a large page cache, the file memory-mapped, the write-ahead
    log copied back less often) while the import writes and commits: each batch inserts into a dozen indexes
    of tables that outgrow the default 2 MB cache.
    PostgreSQL's (no parallel workers, no JIT) concern big queries an import does not run, and setting them
    back would fail in a transaction an error has aborted, hiding the error."""
    return tuned(session) if session.get_bind().dialect.name == "sqlite" else nullcontext()


def _problems(job_id: int, stage: str, number: int, outcome: Outcome) -> list[ImportProblem]:
    return [ImportProblem(job_id=job_id, stage=stage, file_row=number, column_label=(column or "")[:255],
                          message=message, kind=_KIND[outcome.kind]) for column, message in outcome.notes]


def _analyze(session: Session, done: int, last: int) -> int:
    """Refresh PostgreSQL's statistics of the tables each batch looks rows up in, after the first batch and
    whenever the rows done have doubled since (a dozen times over a million rows); the rows done at the last
    refresh. Autovacuum refreshes them only now and then: tables an import grows from empty are believed
    empty meanwhile, and their lookups become scans of every row written so far, batch after batch.

    ANALYZE locks each table against another ANALYZE until the transaction ends (the whole import, in
    `all` mode): rather than wait long for another import's, this one skips its turn."""
    if session.get_bind().dialect.name != "postgresql" or done < 2 * last:
        return last
    try:
        with session.begin_nested():  # a lock timeout rolls back to here, and the setting with it
            session.execute(text("SET LOCAL lock_timeout = '1s'"))
            session.execute(text(f"ANALYZE {', '.join(_LOOKED_UP)}"))
            session.execute(text("SET LOCAL lock_timeout = DEFAULT"))
    except OperationalError:
        pass
    return max(done, 1)


def _set(factory, job_id: int, **values):
    with factory() as s, s.begin():
        s.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


def _partial(factory, job: ImportJob, plan: list, batches: Callable, progress):
    counts = {"imported": job.imported, "updated": job.updated, "skipped": job.skipped, "errors": job.errors}
    done, analyzed = job.done, 0
    first = 0 if job.stage == "parents" else 1
    for index, (stage, table, rows) in enumerate(plan):
        if index < first:
            continue
        pending = table.rows(after=job.last_row if index == first else 0)
        with closing(batches(rows, pending)) as chunks:  # closed on a failure too: the helper stops
            for chunk, at, checked in chunks:
                with factory() as s:
                    _begin(s)
                    problems = []
                    with _tuned(s):  # committed with them too: its write-ahead log's threshold
                        outcomes = save_many(rows, s, chunk, at, checked)
                        for (number, _cells), outcome in zip(chunk, outcomes):
                            counts[_COUNT[outcome.kind]] += 1
                            done += 1
                            problems += _problems(job.id, stage, number, outcome)
                        progress(done, job.total)
                        s.add_all(problems)
                        s.execute(update(ImportJob).where(ImportJob.id == job.id).values(
                            done=done, stage=stage, last_row=chunk[-1][0], heartbeat_at=now(), **counts))
                        s.commit()
                    analyzed = _analyze(s, done, analyzed)
                    s.commit()
    _set(factory, job.id, status="done", finished_at=now(), total=done, report={"message": ""})


def _all_or_nothing(factory, job: ImportJob, plan: list, batches: Callable, progress):
    counts = {"imported": 0, "updated": 0, "skipped": 0, "errors": 0}
    done = analyzed = 0
    problems: list[ImportProblem] = []
    with factory() as s:
        _begin(s)
        sqlite = s.get_bind().dialect.name == "sqlite"
        with _tuned(s):
            for stage, table, rows in plan:
                with closing(batches(rows, table.rows())) as chunks:
                    for chunk, at, checked in chunks:
                        for (number, _cells), outcome in zip(chunk, save_many(rows, s, chunk, at, checked)):
                            counts[_COUNT[outcome.kind]] += 1
                            done += 1
                            problems += _problems(job.id, stage, number, outcome)
                        progress(done, job.total)
                        s.flush()
                        s.expunge_all()  # every row so far is flushed: keep the session's memory bounded
                        analyzed = _analyze(s, done, analyzed)  # in the transaction: counts the rows written so far
                        if not sqlite:  # SQLite has one writer, this transaction: its progress stays in memory
                            _set(factory, job.id, done=done, heartbeat_at=now())
        if not counts["errors"]:
            s.add_all(problems)
            s.execute(update(ImportJob).where(ImportJob.id == job.id).values(
                status="done", finished_at=now(), done=done, total=done, heartbeat_at=now(), report={"message": ""},
                **counts))
            s.commit()
            return
        s.rollback()
    with factory() as s, s.begin():
        s.add_all(problems)
        s.execute(update(ImportJob).where(ImportJob.id == job.id).values(
            status="failed", finished_at=now(), done=done, total=done, heartbeat_at=now(), errors=counts["errors"],
            imported=0, updated=0, skipped=0, report={"message": "", "checked": counts}))
