"""Background runs of this process (imports, publishes), found by database and job id.

A job's row says what the database knows; whether a thread of this process
runs the job now, and its count between two writes to the row, live here.
Each kind of job has its own `Runs` (their ids are numbered apart).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from .clock import now
from .db import engine_of


@dataclass
class Live:
    """A job run by a thread of this process: how far it got (the phase, for jobs that have several)."""

    done: int = 0
    total: int = 0
    phase: str = ""
    thread: threading.Thread | None = None


class Runs:
    """(database URL, job id) -> the job's run in this process, shared by the process's threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, int], Live] = {}

    @staticmethod
    def _key(app: Flask, job_id: int) -> tuple[str, int]:
        return engine_of(app).url.render_as_string(hide_password=False), job_id

    def get(self, app: Flask, job_id: int) -> Live | None:
        with self._lock:
            return self._runs.get(self._key(app, job_id))

    def add(self, app: Flask, job_id: int) -> Live:
        """A run of the job registered in this process, or the one registered already."""
        with self._lock:
            return self._runs.setdefault(self._key(app, job_id), Live())

    def remove(self, app: Flask, job_id: int) -> None:
        with self._lock:
            self._runs.pop(self._key(app, job_id), None)

    def join(self, app: Flask, job_id: int, timeout: float) -> None:
        """Wait up to `timeout` seconds for this process's thread running the job, if there is one."""
        entry = self.get(app, job_id)
        if entry is not None and entry.thread is not None:
            entry.thread.join(timeout)

    def stopped(self, app: Flask, job, stale_after: timedelta) -> bool:
        """Is `job` (a row with `id`, `status` and `heartbeat_at`) marked running though nothing runs it any more:
        no thread of this process, and (on PostgreSQL, which several processes share) no heartbeat for
        `stale_after`? On SQLite a run is this process's or gone."""
        if job.status != "running" or self.get(app, job.id) is not None:
            return False
        if engine_of(app).dialect.name == "sqlite":
            return True
        return job.heartbeat_at is None or job.heartbeat_at < now() - stale_after
