#!/usr/bin/env python
"""Dashboard queries at a million customers, on SQLite and PostgreSQL (the issue's target: p95 < 500 ms).

    python benchmarks/dashboards.py                        # 1,000,000 customers, both databases
    python benchmarks/dashboards.py 20000 --db sqlite      # a smoke run
    python benchmarks/dashboards.py 200000 --db postgresql --children-per 2 --samples 50
    python benchmarks/dashboards.py 1000000 --db postgresql --keep /data/bench  # keep the world ...
    python benchmarks/dashboards.py --db postgresql --reuse 'postgresql://...?options=-csearch_path%3Dbench_...'

The world is the runtime benchmark's (benchmarks/runtime.py: the manufacturing
template, 50 reps, customers with orders and visits made by the engine and
bulk-loaded), plus what the dashboards read and that benchmark leaves out:

  history   a row per customer when its tier was first set (at its creation),
            and for 30% of them an earlier tier changed to the current one at
            a random moment since, so the history ends where the records are,
            as the store keeps it; loaded in bulk.
  follow-up every customer gets a next follow-up time between 60 days ago and
            60 days ahead (about half of them overdue).
  teams     reps 1-10 form the team "east" (the manager's view).
  indexes   the history's (key, at, ...) index of migration 0007 and the expression
            indexes of designer/dashboards/indexes.py (the funnel's field, the
            visits' time), where the migrations or publishing did not make them
            (each one made here is named in the output).
  values    PostgreSQL: `record_values` (designer/dashboards/values.py) filled
            from the records, which the loader wrote with triggers off, and the
            funnel's and the visits' fields copied into it (`values.sync`);
            `history_hours` (designer/dashboards/changes.py) counted again
            from the history, as its counts are filed under the records' owners.

Each chart is computed by the dashboards' own functions (one scoped SQL
aggregate or two) for: the admin over the default 90 days, the admin over
a year, and the team "east" over 90 days; and the whole page (all six
charts) through the app. A plain ``SELECT ... WHERE id = ?`` in the same
process is the baseline, so figures read as ratios on any machine. Figures
are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import time
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import runtime  # noqa: E402  (the runtime benchmark's world: generator, loader, databases)

TARGET_MS = 500.0
#: history rows per bulk write
BATCH = 50_000
#: 30% of customers changed tier once since they were created
CHANGED = 0.3
#: the history index the dashboards' time queries walk (migration 0007)
HISTORY_INDEX = "ix_classification_history_key_at"
HISTORY_COLUMNS = ("key", "at", "record_id", "id", "old", "new", "prev_at", "next_at")


def say(text: str):
    print(text, flush=True)


def add_history(app, db: str, seed: int = 3) -> int:
    """The tier history the store would have written: the first tier at creation, some changed since."""
    from sqlalchemy import text

    from designer.db import engine_of
    from engine import codecs
    engine = engine_of(app)
    rng = random.Random(seed)
    tiers = ["S", "A", "B", "C"]
    now = datetime.now(UTC)
    raw_conn = engine.raw_connection()
    raw = raw_conn.driver_connection
    read = engine.raw_connection()
    cur = read.driver_connection.cursor()
    cur.execute("SELECT id, computed, created_at FROM records WHERE object = 'customer' ORDER BY id")
    rows, total = [], 0
    fmt = "%Y-%m-%d %H:%M:%S.%f"

    def stamp(at: datetime):
        return at.astimezone(UTC).strftime(fmt) if db == "sqlite" else at

    def flush():
        w = raw.cursor()
        if db == "postgresql":
            with w.copy("COPY classification_history (record_id, key, old, new, at, cause, explain, bundle_version) "
                        "FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        else:
            w.executemany("INSERT INTO classification_history (record_id, key, old, new, at, cause, explain, "
                          "bundle_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        w.close()
        raw.commit()
        rows.clear()

    while batch := cur.fetchmany(10_000):
        for record_id, computed, created in batch:
            computed = computed if isinstance(computed, dict) else codecs.loads(computed)
            if isinstance(created, str):
                created = datetime.fromisoformat(created).replace(tzinfo=UTC)
            tier = computed.get("tier")
            if tier is None:
                continue
            if rng.random() < CHANGED:
                first = rng.choice([t for t in tiers if t != tier])
                changed = created + (now - created) * rng.random()
                rows.append((record_id, "tier", "null", codecs.dumps(first), stamp(created), "saved", "{}", 1))
                rows.append((record_id, "tier", codecs.dumps(first), codecs.dumps(tier), stamp(changed), "time", "{}", 1))
            else:
                rows.append((record_id, "tier", "null", codecs.dumps(tier), stamp(created), "saved", "{}", 1))
            if len(rows) >= BATCH:
                total += len(rows)
                flush()
    total += len(rows)
    flush()
    cur.close()
    read.close()
    with engine.begin() as conn:
        due = ("strftime('%Y-%m-%d %H:%M:%S.000000', 'now', '-60 days', '+' || (id % 120) || ' days', "
               "'+' || (id % 1440) || ' minutes')"
               if db == "sqlite" else "now() - interval '60 days' + (id % 120) * interval '1 day' "
                                      "+ (id % 1440) * interval '1 minute'")
        conn.execute(text(f"UPDATE records SET followup_due_at = {due} WHERE object = 'customer' AND owner IS NOT NULL"))
        team = conn.execute(text("SELECT id FROM teams WHERE name = 'east'")).scalar()
        if team is None:
            conn.execute(text("INSERT INTO teams (name) VALUES ('east')"))
            team = conn.execute(text("SELECT id FROM teams WHERE name = 'east'")).scalar()
        conn.execute(text(f"UPDATE users SET team_id = {team} WHERE username IN "
                          f"({', '.join(repr(r) for r in runtime.REPS[:10])})"))
    raw_conn.close()
    prepare(app, db, fill=True)
    return total


def prepare(app, db: str, fill: bool):
    """What the dashboards read besides the world: their indexes and (`fill`: the loader bypassed the triggers)
    `record_values`; then statistics and VACUUM."""
    from sqlalchemy import text

    from designer.db import engine_of
    made = dashboard_indexes(app, fill)
    if made:
        say(f"  made {len(made)} dashboard index(es) that publishing did not: {', '.join(made)} "
            f"(migration 0007; designer/dashboards/indexes.py)")
    with engine_of(app).connect() as conn:
        if db == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM (ANALYZE)"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def dashboard_indexes(app, fill: bool) -> list[str]:
    """The indexes the dashboards ask for, where the migrations or publishing have not made them: the history's
    (key, at) (migration 0007) and the funnel's and the activity chart's expression indexes; on PostgreSQL
    `record_values` filled again and its fields copied, and `history_hours` counted again."""
    from sqlalchemy import inspect, text

    from designer.bundles.indexes import existing
    from designer.bundles.workspace import current
    from designer.dashboards import changes, indexes, neighbours, values
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        bundle = current(s).bundle
        missing = sorted(set(indexes.wanted(bundle)) - existing(s, s.get_bind().dialect.name))
        indexes.create(s, bundle)
        if s.get_bind().dialect.name == "postgresql" and fill:
            t = time.perf_counter()
            values.rebuild(s)
            values.sync(s, bundle)
            changes.rebuild(s)
            neighbours.rebuild(s)
            say(f"  record_values filled from the records, the fields copied, history_hours counted and the "
                f"history's neighbours set in "
                f"{time.perf_counter() - t:.0f} s (the loader writes with triggers off)")
        history = {i["name"] for i in inspect(s.connection()).get_indexes("classification_history")}
        if HISTORY_INDEX not in history:
            s.execute(text(f"CREATE INDEX {HISTORY_INDEX} ON classification_history ({', '.join(HISTORY_COLUMNS)})"))
            missing.append(HISTORY_INDEX)
    return missing


def timed(fn, samples: int, warmup: int = 2, budget: float = 60.0) -> list[float]:
    """Seconds of each of `samples` runs of fn() after a warm-up (fewer, at least 10, past `budget` seconds)."""
    for _ in range(warmup):
        fn()
    out = []
    started = time.perf_counter()
    for _ in range(samples):
        if len(out) >= 10 and time.perf_counter() - started > budget:
            break
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return sorted(out)


def measure(app, args) -> list[tuple[str, float, float, int]]:
    """(scenario, p50 ms, p95 ms, n) of the baseline, each chart in each view, and the page."""
    from sqlalchemy import select

    from designer.bundles.workspace import current
    from designer.clock import now
    from designer.dashboards import charts
    from designer.dashboards.filters import parse
    from designer.models import Record, Team
    sessions = app.extensions["tierwise.sessions"]
    rows = []

    def add(name, samples):
        rows.append((name, runtime.pct(samples, 0.5) * 1000, runtime.pct(samples, 0.95) * 1000, len(samples)))
        say(f"  {name:<48} n={len(samples):<4} p50 {rows[-1][1]:9.2f} ms  p95 {rows[-1][2]:9.2f} ms")

    with app.test_request_context(), sessions() as s:  # chart titles are translated: a request's locale
        bundle = current(s).bundle
        teams = [(i, n) for i, n in s.execute(select(Team.id, Team.name))]
        east = next(i for i, n in teams if n == "east")
        members = [f"rep{i:02d}" for i in range(1, 11)]
        last = s.scalar(select(Record.id).order_by(Record.id.desc()).limit(1))
        ids = random.Random(5)

        def baseline():
            with sessions() as t:
                t.execute(select(Record).where(Record.id == ids.randint(1, last))).first()
        add("baseline: SELECT a record by id", timed(baseline, args.samples * 5))
        today = now().astimezone(bundle.tz).date()
        views = [("admin, 90 days", {}, None),
                 ("admin, 365 days", {"from": (today - timedelta(days=364)).isoformat()}, None),
                 ("team east, 90 days", {"team": str(east)}, members)]
        for label, url, owners in views:
            filters = parse(url, bundle, today, teams)
            for key, build in charts.CHARTS.items():
                def run(build=build, filters=filters, owners=owners):
                    with sessions() as t:
                        build(t, filters, owners, bundle, now())
                add(f"{key}, {label}", timed(run, args.samples, budget=args.budget))
    client = app.test_client()
    response = client.post("/login", data={"username": "admin", "password": runtime.PASSWORD})
    assert response.status_code == 302, response.status_code

    def page():
        r = client.get("/dashboards/")
        assert r.status_code == 200, r.status_code
    add("page: all six charts, admin, 90 days", timed(page, max(10, args.samples // 3), budget=args.budget))
    return rows


def report(db: str, n: int, history: int, rows) -> str:
    base = rows[0][1]
    out = [f"== {db}: {n:,} customers, {history:,} history rows ==",
           f"{'scenario':<50}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'x base':>9}  target p95 < {TARGET_MS:.0f} ms",
           "-" * 108]
    for name, p50, p95, count in rows:
        ratio = "" if name.startswith("baseline") or name.startswith("page") else f"{p95 / base:,.0f}x"
        verdict = "" if name.startswith("baseline") or name.startswith("page") else \
            ("PASS" if p95 < TARGET_MS else "MISS")
        out.append(f"{name:<50}{count:>5}{p50:>10.2f}{p95:>10.2f}{ratio:>9}  {verdict}")
    out.append("x base: a chart's p95 over the p50 of a plain SELECT by id in the same process")
    return "\n".join(out)


def run_one(db: str, args) -> str:
    if args.reuse:
        return run_again(db, args)
    build_args = Namespace(keep=args.keep, customers=args.customers, children_per=args.children_per)
    app, target, _gen, _info = runtime.build(db, build_args, say)
    try:
        t = time.perf_counter()
        history = add_history(app, db)
        say(f"  history: {history:,} rows, follow-up times and the team in {time.perf_counter() - t:.0f} s")
        return report(db, args.customers, history, measure(app, args))
    finally:
        from designer.db import engine_of
        engine_of(app).dispose()
        target.drop()


def run_again(db: str, args) -> str:
    """Measure a world an earlier run kept (--keep), migrated to the newest revision first (left in place)."""
    from sqlalchemy import func, select

    from designer.app import create_app
    from designer.db import engine_of
    from designer.migrate import upgrade
    from designer.models import ClassificationChange, Record
    app = create_app({"DATABASE_URL": args.reuse, "INSTANCE_PATH": str(Path(args.keep or "/tmp") / "instance"),
                      "WTF_CSRF_ENABLED": False, "SECRET_KEY": "bench"})
    t = time.perf_counter()
    upgrade(engine_of(app))
    say(f"database (kept by an earlier run): {args.reuse}; migrated in {time.perf_counter() - t:.0f} s")
    prepare(app, db, fill=False)  # the migrations and the triggers keep record_values
    with engine_of(app).connect() as conn:
        customers = conn.scalar(select(func.count()).select_from(Record).where(Record.object == "customer"))
        history = conn.scalar(select(func.count()).select_from(ClassificationChange))
    try:
        return report(db, customers, history, measure(app, args))
    finally:
        engine_of(app).dispose()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("customers", type=int, nargs="?", default=1_000_000, help="customers (default 1,000,000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--children-per", type=float, default=2.0, help="orders + visits per customer, average")
    parser.add_argument("--samples", type=int, default=30, help="timed runs per scenario (after a warm-up)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds after which a slow scenario stops short of --samples (keeping at least 10)")
    parser.add_argument("--keep", type=Path, help="keep the world in this directory (the PostgreSQL schema too)")
    parser.add_argument("--reuse", help="the URL of a world an earlier --keep run left: measure it again")
    args = parser.parse_args(argv)
    if args.db == "both":  # one process per database, so that neither colours the other's figures
        for db in ("sqlite", "postgresql"):
            code = subprocess.call([sys.executable, __file__, str(args.customers), "--db", db,
                                    "--children-per", str(args.children_per), "--samples", str(args.samples),
                                    "--budget", str(args.budget)])
            if code != 0:
                raise SystemExit(f"the {db} run failed (exit {code})")
        return
    say(f"tierwise dashboard benchmark: python {platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs")
    say(run_one(args.db, args))


if __name__ == "__main__":
    main()
