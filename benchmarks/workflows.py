#!/usr/bin/env python
"""Follow-up workflows at scale: planning after a publish, idle ticks, firing throughput, time-driven work.

The issue asks, at 1,000,000 records with cadences:

  plan      the time to schedule every record after a publish: the set-based follow-up planner
            (`designer.workflows.bulk.plan_followups`: one SELECT per 5,000 records with the latest
            activity and a CASE over the cadence conditions) against the per-record planner
            (`followups.plan_followups`, what a save runs) timed on a sample and scaled to N — the
            ratio is the point; and the time-driven reclassification planner (batched Python).
  idle      one worker tick with nothing due (target < 20 ms), median of 50.
  fire      firing F due reminders with 1 and then 2 worker processes, each draining what is due as
            `tierwise worker --once --as-of` does, timed from the moment they all start (start-up
            excluded), on PostgreSQL (target ≥ 2,000/s in total); on SQLite one worker (the lease).
            This is the drain procrastinate's `tierwise.drain` jobs run, without the job dispatch.
            Each worker count gets its own F reminders, made due by moving their time back.
  timed     over the next 365 days, the records the time-driven path reclassifies (one firing per
            change) against a nightly sweep (every record, every night): work done as a ratio, and
            the measured time of each for one day (the sweep timed on a sample and scaled to N).

Records are bulk-loaded (executemany, or COPY on PostgreSQL) with the values and classification the
engine computes for them; a tenth have a visit (the activity). Figures are printed, not asserted.

    python benchmarks/workflows.py --records 20000 --firings 5000          # a smoke run (PostgreSQL)
    python benchmarks/workflows.py                                          # 1,000,000 records, 100,000 firings
    python benchmarks/workflows.py --db sqlite --records 100000 --firings 20000

PostgreSQL is TIERWISE_BENCH_PG, else TIERWISE_TEST_PG, else postgresql://postgres@127.0.0.1:5432/test; a
schema of its own is made and dropped.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("TIERWISE_BENCH_PG") or os.environ.get("TIERWISE_TEST_PG") or \
    "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai

BUNDLE = """
bundle: bench-followup
timezone: Asia/Shanghai
calendar: cn
objects:
  customer:
    title: name
    fields:
      - {key: name, type: text, required: true}
      - {key: annual_revenue, type: money}
      - {key: last_visit_at, type: date}
  visit:
    parent: customer
    fields:
      - {key: at, type: date, required: true}
classifications:
  - key: tier
    object: customer
    rules:
      - {when: "annual_revenue >= 1000000 and days_since(last_visit_at) <= 90", value: A}
      - {when: "annual_revenue >= 100000", value: B}
    default: C
followup:
  - key: cadence
    object: customer
    activity: visit
    activity_time: at
    cadence:
      - {when: "tier == 'A'", every: 7d}
      - {when: "tier == 'B'", every: 30d}
      - {when: "tier == 'C'", every: 90d}
    working_days: true
    reminders:
      - {at: -1d, notify: owner}
      - {at: 2d, notify: owner}
      - {at: 5d, notify: manager}
"""


def say(*parts):
    print(*parts, flush=True)


class Target:
    """A fresh SQLite file or PostgreSQL schema, dropped at the end."""

    def __init__(self, db: str):
        self.db = db
        self.tmp = Path(tempfile.mkdtemp(prefix=f"tierwise-wf-{db}-"))
        self.schema = None
        if db == "sqlite":
            self.url = f"sqlite:///{self.tmp / 'tierwise.db'}"
        else:
            from sqlalchemy import text

            from designer.db import make_engine
            self.schema = "benchwf_" + uuid.uuid4().hex[:10]
            admin = make_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            self.url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{self.schema}"

    def drop(self):
        if self.schema:
            from sqlalchemy import text

            from designer.db import make_engine
            admin = make_engine(PG_URL)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            admin.dispose()
        shutil.rmtree(self.tmp, ignore_errors=True)


def build(target: Target, n: int, reps: int):
    """Migrations, users, the bundle without its follow-up policy, then `n` customers loaded in bulk."""
    from sqlalchemy import insert

    from designer.app import create_app
    from designer.auth.users import add_user
    from designer.bundles.publish import publish
    from designer.db import engine_of, transaction
    from designer.migrate import upgrade
    from designer.models import Record
    from designer.records.store import wire
    from engine import load_bundle_text

    app = create_app({"DATABASE_URL": target.url, "INSTANCE_PATH": str(target.tmp / "instance"),
                      "SECRET_KEY": "bench"})
    upgrade(engine_of(app))
    with app.app_context(), transaction(app) as s:
        add_user(s, "boss", "bench-password", role="manager")
        for i in range(reps):
            add_user(s, f"rep{i}", "bench-password", manager="boss")
        publish(s, BUNDLE.split("followup:")[0], "bench.yaml", actor=None, now=NOW)
    bundle = load_bundle_text(BUNDLE, "bench.yaml")
    clf = bundle.classifier("customer")
    rng = random.Random(7)
    started = time.perf_counter()
    chunk, visits = [], []
    for i in range(n):
        revenue = rng.choice([5000, 50000, 200000, 800000, 1500000, 3000000])
        created = NOW - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440))
        visited = (NOW - timedelta(days=rng.randint(0, 120))).astimezone(bundle.tz).date() if i % 10 == 0 else None
        values = {"name": f"客户{i}", "annual_revenue": revenue, "last_visit_at": visited and visited.isoformat()}
        result = clf.classify(clf.coerce({**values, "created_at": created, "updated_at": created}), NOW)
        chunk.append({"object": "customer", "owner": f"rep{i % reps}", "title": values["name"], "data": wire(values),
                      "computed": wire(result.values), "explain": {}, "created_at": created, "updated_at": created,
                      "owned_since": created, "version": 1, "bundle_version": None})
        if visited:
            visits.append((len(chunk) - 1, visited))
        if len(chunk) == 10000 or i == n - 1:
            with transaction(app) as s:
                ids = s.scalars(insert(Record).returning(Record.id), chunk).all()
                if visits:
                    s.execute(insert(Record), [{"object": "visit", "parent_id": ids[k], "data": {"at": d.isoformat()},
                                                "computed": {}, "explain": {}, "created_at": NOW, "updated_at": NOW,
                                                "version": 1} for k, d in visits])
            chunk, visits = [], []
    say(f"  loaded {n:,} customers in {time.perf_counter() - started:.1f} s")
    return app


def publish_policy(app):
    """Store the bundle with its follow-up policy as a new version, without the bulk planners (timed apart)."""
    from designer.bundles.workspace import Current
    from designer.db import transaction
    from designer.models import BundleVersion, Record
    from engine import load_bundle_text
    from sqlalchemy import update
    with transaction(app) as s:
        row = BundleVersion(bundle_key="bench-followup", source=BUNDLE, filename="bench.yaml", published_at=NOW,
                            report={})
        s.add(row)
        s.flush()
        s.execute(update(Record).values(bundle_version=row.id).execution_options(synchronize_session=False))
        return Current(row.id, load_bundle_text(BUNDLE, "bench.yaml"))


def measure_plan(app, cur, n: int):
    from sqlalchemy import select

    from designer.db import transaction
    from designer.models import Firing, Record
    from designer.workflows import bulk, followups, schedule
    with app.app_context():
        started = time.perf_counter()
        with transaction(app) as s:
            counts = bulk.plan_followups(s, cur, NOW)
        bulk_s = time.perf_counter() - started
        sample = min(2000, n)
        with transaction(app) as s:
            records = s.scalars(select(Record).where(Record.object == "customer").order_by(Record.id.desc())
                                .limit(sample)).all()
            s.execute(Firing.__table__.update().where(Firing.record_id >= records[-1].id)
                      .values(status="cancelled", outcome="benchmark: planned again"))
            started = time.perf_counter()
            for record in records:
                followups.plan_followups(s, cur, schedule.Change(record, record.id, "rules published", NOW))
            s.flush()
            per_record_s = (time.perf_counter() - started) / sample * n
        started = time.perf_counter()
        with transaction(app) as s:
            timed = bulk.plan_reclassify(s, cur, NOW)
        timed_s = time.perf_counter() - started
    say(f"  follow-ups, set-based        {bulk_s:8.1f} s  ({n / bulk_s:,.0f} records/s; {counts['planned']:,} reminders "
        f"planned, {counts['due_changed']:,} due times set)")
    say(f"  follow-ups, per record       {per_record_s:8.1f} s  (timed on {sample:,} records, scaled to {n:,})  "
        f"ratio {per_record_s / bulk_s:.1f}x")
    say(f"  time-driven reclassification {timed_s:8.1f} s  ({timed:,} records with an instant)")


def measure_idle(app):
    """An idle tick, beside a baseline in the same process: one transaction doing `SELECT 1`."""
    from sqlalchemy import text

    from designer.db import transaction
    from designer.workflows.worker import tick
    tick(app, NOW)
    times, base = [], []
    for _ in range(50):
        started = time.perf_counter()
        counts = tick(app, NOW)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        with transaction(app) as s:
            s.execute(text("SELECT 1"))
        base.append(time.perf_counter() - started)
    assert not any(counts.values()), counts
    tick_ms, base_ms = statistics.median(times) * 1000, statistics.median(base) * 1000
    say(f"  idle tick                    {tick_ms:8.2f} ms median, {max(times) * 1000:.2f} ms max (target < 20 ms); "
        f"baseline SELECT 1 {base_ms:.2f} ms -> {tick_ms / base_ms:.1f}x")


def make_due(app, count: int, at: datetime) -> int:
    """Move `count` pending reminders' time back to `at` (their due time is unchanged: they stay valid)."""
    from sqlalchemy import select, update

    from designer.db import transaction
    from designer.models import Firing
    with transaction(app) as s:
        ids = s.scalars(select(Firing.id).where(Firing.kind == "reminder", Firing.status == "pending",
                                                Firing.due_at > NOW).order_by(Firing.id).limit(count)).all()
        for i in range(0, len(ids), 10_000):  # PostgreSQL takes at most 65,535 parameters per statement
            s.execute(update(Firing).where(Firing.id.in_(ids[i:i + 10_000])).values(due_at=at).execution_options(
                synchronize_session=False))
    return len(ids)


def _worker_process(url: str, instance: str, as_of: datetime, ready, go, results):
    """One worker in a process of its own: start up, wait for the others, drain, report (start, end, counts)."""
    sys.path.insert(0, str(ROOT))
    from designer.app import create_app
    from designer.db import engine_of
    from designer.workflows.worker import drain
    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench"})
    with app.app_context():
        drain(app, as_of - timedelta(days=3650))  # warm up: imports, the compiled bundle, a connection
        ready.release()
        go.wait()
        started = time.perf_counter()
        counts = drain(app, as_of, batch=500)
        results.put((started, time.perf_counter(), dict(counts)))
    engine_of(app).dispose()


def workers(target: Target, count: int, as_of: datetime) -> tuple[float, list]:
    """Run `count` worker processes at once over what is due by `as_of`: the seconds from the first start to
    the last finish (start-up excluded: they all begin together), and each one's counts."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker_process, args=(target.url, str(target.tmp / "instance"), as_of, ready, go,
                                                       results)) for _ in range(count)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    go.set()
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a worker process failed (exit {p.exitcode})")
    return max(end for _s, end, _c in got) - min(start for start, _e, _c in got), [c for _s, _e, c in got]


def measure_fire(app, target: Target, firings: int):
    from sqlalchemy import func, select

    from designer.db import transaction
    from designer.models import Firing
    counts = [1, 2] if target.db == "postgresql" else [1]
    for k, n_workers in enumerate(counts):
        as_of = NOW - timedelta(minutes=k + 1)
        made = make_due(app, firings, as_of)
        wall, each = workers(target, n_workers, NOW)
        with transaction(app) as s:
            done = s.scalar(select(func.count()).select_from(Firing).where(Firing.due_at == as_of,
                                                                          Firing.status.in_(["done", "cancelled"])))
        assert done == made, (done, made)
        say(f"  fire {made:,} reminders, {n_workers} worker{'s' if n_workers > 1 else ' '}  {wall:8.1f} s  "
            f"{made / wall:,.0f}/s in total (target ≥ 2,000/s); per worker: "
            f"{', '.join(str(c.get('done', 0)) for c in each)} done")


def measure_timed(app, cur, n: int):
    from sqlalchemy import func, select

    from designer.db import transaction
    from designer.models import Firing, Record
    from designer.records.store import children_of_many, recompute
    from designer.workflows.worker import drain
    horizon = NOW + timedelta(days=365)
    with transaction(app) as s:
        in_year = s.scalar(select(func.count()).select_from(Firing).where(
            Firing.kind == "reclassify", Firing.status == "pending", Firing.due_at <= horizon))
        first = s.scalar(select(func.min(Firing.due_at)).where(Firing.kind == "reclassify",
                                                               Firing.status == "pending"))
    sweep_work = n * 365
    say(f"  timed: records reclassified in 365 days: time-driven {in_year:,}, nightly sweep {sweep_work:,} "
        f"-> {sweep_work / max(in_year, 1):,.0f}x less work")
    if first is None:
        return
    day_end = first + timedelta(days=1)
    with transaction(app) as s:
        that_day = s.scalar(select(func.count()).select_from(Firing).where(
            Firing.kind == "reclassify", Firing.status == "pending", Firing.due_at <= day_end))
    with app.app_context():
        started = time.perf_counter()
        drained = drain(app, day_end)
        driven_s = time.perf_counter() - started
    sample = min(20000, n)
    with app.app_context(), transaction(app) as s:
        records = s.scalars(select(Record).where(Record.object == "customer").limit(sample)).all()
        kids = children_of_many(s, [r.id for r in records], ["visit"])
        started = time.perf_counter()
        for record in records:
            recompute(s, cur, record, "time", day_end, kids[record.id], plan=False)
        s.flush()
        sweep_s = (time.perf_counter() - started) / sample * n
        s.rollback()
    say(f"  timed: one day ({first.date()}): time-driven {that_day:,} firings in {driven_s:.2f} s "
        f"({dict(drained)}); sweep of {n:,} records ≈ {sweep_s:.1f} s (timed on {sample:,}) "
        f"-> {sweep_s / max(driven_s, 1e-9):,.0f}x")


def run(db: str, args):
    say(f"\n== {db}: {args.records:,} customers, {args.firings:,} due reminders ==")
    target = Target(db)
    try:
        from designer.clock import freeze
        from designer.db import engine_of
        with freeze(NOW):
            app = build(target, args.records, args.reps)
            cur = publish_policy(app)
            say("plan after a publish")
            measure_plan(app, cur, args.records)
            say("ticks")
            measure_idle(app)
            measure_fire(app, target, args.firings)
            say("time-driven reclassification")
            measure_timed(app, cur, args.records)
        engine_of(app).dispose()
    finally:
        target.drop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="postgresql")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--firings", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(db, args)


if __name__ == "__main__":
    main()
