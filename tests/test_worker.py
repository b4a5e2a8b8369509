"""`tierwise worker`: every due firing runs exactly once, with several workers, through crashes and downtime.

The concurrency tests start real worker processes (`tierwise worker --once
--as-of ...`) against the test's own database: on PostgreSQL two and four of
them at once over 10,000 due reminders, and one killed with SIGKILL in the
middle of a batch; on SQLite a second worker refuses while the first holds
the lease. Exactly-once is checked on what firing leaves behind: one done
schedule row per firing with one attempt, one notification per key and one
workflow event per firing (events have no unique key, so a double run would
show there).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from designer.db import transaction
from designer.models import Firing, Notification, Record, WorkflowEvent
from designer.workflows import schedule

from .conftest import DB, NOW

BUNDLE = Path(__file__).parent / "data" / "followup_crm.bundle.yaml"
#: created at NOW (2026-03-15), tier B: due 2026-04-14 09:00, the first reminder a day before
FIRST_REMINDER = datetime.fromisoformat("2026-04-13T09:00:00+08:00")
_AS_OF = FIRST_REMINDER + timedelta(hours=1)
AS_OF = _AS_OF.isoformat()

pg_only = pytest.mark.skipif(DB != "postgresql", reason="several workers at once need PostgreSQL's row locks")
sqlite_only = pytest.mark.skipif(DB != "sqlite", reason="the worker lease is how SQLite runs one worker at a time")


def build(app, publish, make_user, n: int):
    """`n` tier B customers of alice, each with one reminder due at FIRST_REMINDER (planned by a publish)."""
    make_user("boss", "manager")
    make_user("alice", manager="boss")
    publish(BUNDLE.read_text("utf-8").split("followup:")[0])
    with transaction(app) as s:
        s.execute(insert(Record), [{"object": "customer", "owner": "alice", "title": f"客户{i}",
                                    "data": {"name": f"客户{i}", "annual_revenue": 200000}, "computed": {},
                                    "explain": {}, "created_at": NOW, "updated_at": NOW, "owned_since": NOW,
                                    "version": 1} for i in range(n)])
    with mock.patch.object(schedule, "INLINE", n):  # every reminder planned by the publish itself, no `replan` chain
        publish(BUNDLE)
    with transaction(app) as s:
        due = s.scalar(select(func.count()).select_from(Firing).where(Firing.status == "pending",
                                                                      Firing.due_at <= datetime.fromisoformat(AS_OF)))
    assert due == n


def worker(database_url, tmp_path, *args) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "TIERWISE_INSTANCE": str(tmp_path / "instance")}
    return subprocess.Popen([sys.executable, "-c", "from designer.cli import main; main()", "worker", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def outcome(app) -> dict:
    with transaction(app) as s:
        firings = s.execute(select(Firing.status, Firing.attempts, func.count()).where(Firing.kind == "reminder",
                                                                                       Firing.due_at <= _AS_OF)
                            .group_by(Firing.status, Firing.attempts)).all()
        events = s.execute(select(WorkflowEvent.record_id, func.count()).group_by(WorkflowEvent.record_id)).all()
        return {"firings": {(status, attempts): count for status, attempts, count in firings},
                "notifications": s.scalar(select(func.count()).select_from(Notification)),
                "events per record": {count for _rid, count in events}, "records with events": len(events)}


def exactly_once(app, n: int):
    got = outcome(app)
    assert got == {"firings": {("done", 1): n}, "notifications": n, "events per record": {1},
                   "records with events": n}


@pg_only
@pytest.mark.parametrize("engine", ["procrastinate", "loop"])
@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_fire_each_of_10000_reminders_exactly_once(app, publish, make_user, database_url,
                                                                      tmp_path, workers, engine):
    n = 10_000
    build(app, publish, make_user, n)
    procs = [worker(database_url, tmp_path, "--once", "--as-of", AS_OF, "--batch", "100", "--engine", engine)
             for _ in range(workers)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, results
    done_by = [int(out.split("done: ")[1].split(",")[0]) for out, _err in results if "done: " in out]
    assert sum(done_by) == n
    assert sum(1 for d in done_by if d > 0) >= 2, done_by  # the work was shared
    exactly_once(app, n)


@pg_only
def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(app, publish, make_user, database_url, tmp_path):
    n = 10_000
    build(app, publish, make_user, n)
    victim = worker(database_url, tmp_path, "--once", "--as-of", AS_OF, "--batch", "500")
    deadline = time.monotonic() + 300
    while outcome(app)["firings"].get(("done", 1), 0) < 500:  # at least one batch committed
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    killed_at = outcome(app)["firings"]
    assert 0 < killed_at.get(("done", 1), 0) < n
    survivors = [worker(database_url, tmp_path, "--once", "--as-of", AS_OF) for _ in range(2)]
    for p in survivors:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    exactly_once(app, n)


@pg_only
def test_long_running_procrastinate_workers_pick_up_due_firings_and_stop_on_sigterm(app, publish, make_user,
                                                                                   database_url, tmp_path):
    """The periodic tick (every second) finds what fell due — here everything, the real clock being past it —
    and wakes the drain slots; SIGTERM lets each worker finish its job and exit."""
    n = 300
    build(app, publish, make_user, n)
    procs = [worker(database_url, tmp_path, "--engine", "procrastinate") for _ in range(2)]
    deadline = time.monotonic() + 240

    def reminders():
        with transaction(app) as s:
            return dict(s.execute(select(Firing.status, func.count()).where(Firing.kind == "reminder")
                                  .group_by(Firing.status)).all())
    while reminders() != {"done": 4 * n}:  # each record's four reminders, all long due by the real clock
        assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, [p.communicate() for p in procs]
        time.sleep(0.2)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    got = outcome(app)
    assert (got["notifications"], got["events per record"], got["records with events"]) == (4 * n, {4}, n)
    with transaction(app) as s:
        assert set(s.scalars(select(Firing.attempts).where(Firing.kind == "reminder"))) == {1}


@sqlite_only
def test_sqlite_runs_one_worker_at_a_time(app, publish, make_user, database_url, tmp_path):
    n = 1500
    build(app, publish, make_user, n)
    procs = [worker(database_url, tmp_path, "--once", "--as-of", AS_OF, "--batch", "50") for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    refused = [err for p, (_out, err) in zip(procs, results) if p.returncode != 0]
    assert all("another worker" in err for err in refused), results
    exactly_once(app, n)


@sqlite_only
def test_a_held_lease_makes_a_second_worker_refuse_or_wait(app, publish, make_user):
    from designer.workflows.worker import LeaseHeld, acquire_lease, release_lease, run
    build(app, publish, make_user, 5)
    acquire_lease(app, "host-a:1")
    with pytest.raises(LeaseHeld, match="another worker \\(host-a:1\\)"):
        run(app, once=True, as_of=datetime.fromisoformat(AS_OF), name="host-b:2")
    waited = []
    counts = run(app, as_of=datetime.fromisoformat(AS_OF), name="host-b:2", echo=waited.append,
                 stop=lambda: bool(waited))  # a long-running worker waits (and here stops while waiting)
    assert waited and "waiting: another worker (host-a:1)" in waited[0] and not counts
    release_lease(app, "host-a:1")
    assert run(app, once=True, as_of=datetime.fromisoformat(AS_OF), name="host-b:2")["done"] == 5
    exactly_once(app, 5)


@sqlite_only
def test_procrastinate_needs_postgresql(app, database_url, monkeypatch, tmp_path):
    from designer.cli import main
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["worker", "--once", "--engine", "procrastinate", "--instance", str(tmp_path)])
    assert result.exit_code == 2 and "--engine procrastinate needs PostgreSQL" in result.output


def test_once_as_of_from_the_command_line(app, publish, make_user, database_url, tmp_path, monkeypatch):
    from designer.cli import main
    build(app, publish, make_user, 3)
    monkeypatch.setenv("DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(main, ["worker", "--once", "--as-of", AS_OF, "--instance", str(tmp_path / "i")])
    assert result.exit_code == 0, result.output
    assert "done: 3" in result.output
    exactly_once(app, 3)
    again = runner.invoke(main, ["worker", "--once", "--as-of", AS_OF, "--instance", str(tmp_path / "i")])
    assert again.exit_code == 0 and "nothing due" in again.output
    bad = runner.invoke(main, ["worker", "--once", "--as-of", "2026-04-13T10:00:00"])
    assert bad.exit_code == 2 and "no UTC offset" in bad.output
    alone = runner.invoke(main, ["worker", "--as-of", AS_OF])
    assert alone.exit_code == 2 and "--as-of needs --once" in alone.output


def test_a_failing_handler_is_retried_then_marked_failed(app, publish, make_user, monkeypatch):
    from designer.workflows import schedule, worker as w
    build(app, publish, make_user, 1)

    def broken(session, current, firing, now):
        session.add(WorkflowEvent(record_id=firing.record_id, kind="reminder", cause="half-written"))
        raise ValueError("boom")
    monkeypatch.setitem(schedule.HANDLERS, "reminder", broken)
    as_of = datetime.fromisoformat(AS_OF)
    for attempt in range(1, w.MAX_ATTEMPTS + 1):
        counts = w.tick(app, as_of + timedelta(days=attempt * 3))
        assert counts["failed" if attempt == w.MAX_ATTEMPTS else "retried"] == 1
    with transaction(app) as s:
        row = s.scalar(select(Firing).where(Firing.kind == "reminder", Firing.status != "pending"))
        assert (row.status, row.attempts, row.outcome) == ("failed", w.MAX_ATTEMPTS, "ValueError: boom")
        assert s.scalar(select(func.count()).select_from(WorkflowEvent)) == 0  # the savepoint took it back


def test_a_failing_batch_falls_back_to_one_by_one(app, publish, make_user, monkeypatch):
    from designer.workflows import worker as w
    build(app, publish, make_user, 30)

    def broken(session, current, firings, now):
        session.add(WorkflowEvent(record_id=firings[0].record_id, kind="reminder", cause="half-written"))
        raise RuntimeError("batch path broken")
    monkeypatch.setitem(w.BATCH_HANDLERS, "reminder", broken)
    assert w.tick(app, _AS_OF, batch=10)["done"] == 30
    exactly_once(app, 30)  # the half-written event went with the batch's SAVEPOINT


def test_a_tick_with_nothing_due_is_cheap(app, publish, make_user):
    """An idle tick costs a few round trips, whatever is planned: measured against `SELECT 1` in a
    transaction, interleaved, so a busy machine slows both alike (benchmarks/workflows.py reports the ms)."""
    from sqlalchemy import text

    from designer.workflows.worker import tick
    build(app, publish, make_user, 200)
    tick(app, _AS_OF)
    ticks, base = [], []
    for _ in range(30):
        started = time.perf_counter()
        counts = tick(app, _AS_OF)
        ticks.append(time.perf_counter() - started)
        started = time.perf_counter()
        with transaction(app) as s:
            s.execute(text("SELECT 1"))
        base.append(time.perf_counter() - started)
    assert not any(counts.values())
    ticks.sort()
    base.sort()
    assert ticks[15] < 12 * base[15], (ticks[15], base[15])


def test_reminders_reach_a_local_smtp_server_and_webhook_receiver_once_per_key(app, publish, make_user):
    """End to end: reminders fired by two workers at once, delivered through the outbox to real servers."""
    import hashlib
    import hmac
    import json
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller
    from sqlalchemy import update

    from designer.models import User
    from designer.workflows.worker import tick
    n = 40
    build(app, publish, make_user, n)
    with transaction(app) as s:
        s.execute(update(User).where(User.username == "alice").values(email="alice@example.com"))
    mails, hooks, lock = [], [], threading.Lock()

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
            from email import message_from_bytes
            with lock:
                mails.append(message_from_bytes(envelope.content)["X-Tierwise-Key"])
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
            with lock:
                hooks.append((self.headers["X-Tierwise-Key"], self.headers["X-Tierwise-Signature"] == signed,
                              json.loads(body)["to"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, WEBHOOK_URL=f"http://127.0.0.1:{httpd.server_port}/h",
                      WEBHOOK_SECRET="s3cret")
    try:
        threads = [threading.Thread(target=tick, args=(app, _AS_OF), kwargs={"batch": 7}) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        tick(app, _AS_OF)
        tick(app, _AS_OF + timedelta(hours=1))
    finally:
        smtp.stop()
        httpd.shutdown()
        httpd.server_close()
    exactly_once(app, n)
    with transaction(app) as s:
        keys = sorted(s.scalars(select(Notification.key)))
    assert sorted(mails) == [k + ":email" for k in keys]
    assert sorted(k for k, _ok, _to in hooks) == [k + ":webhook" for k in keys]
    assert all(ok and to == "alice" for _k, ok, to in hooks)
