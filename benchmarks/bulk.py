#!/usr/bin/env python
"""Bulk paths at a million records: CSV import, reclassification after a publish, impact preview (issue #6).

The issue asks: import 1,000,000 CSV rows at 10,000 rows/s or more in less
than 500 MB; reclassify 1,000,000 customers with 5,000,000 children after a
publish in the database at least 10 times faster than record by record in
Python, and in under 60 s on SQLite. Sections:

  import      N customer rows written to a CSV file and imported by
              `tierwise import` (the real path: every row checked and saved
              like a form) in a child process: rows/s and the child's peak
              RSS. An import still running after --import-budget seconds is
              stopped and measured on the rows it committed (said so in the
              output). The rows are checked a batch ahead by the import's
              helper process, or with --import-helper off in its own
              process (both: each way, into a new database each; the ratio
              is printed), and the helper's peak RSS is given too.
              Baseline: the same rows inserted with one executemany into a
              scratch table, in this process.
  reclassify  N customers and ~children-per x N children (the manufacturing
              template: orders and visits) bulk-loaded, classified once in
              SQL, then the tier thresholds change: the SQL path
              (designer.bundles.bulk.reclassify) on every record, and the
              per-record Python path timed on the first --python-sample
              customers and extrapolated per record (stated in the output).
              Both as after a publish: values, explanations, history rows;
              the SQL path with --helpers processes computing its chunks
              beside the publish's connection, as a publish job does
              (default designer.bundles.bulk.HELPERS; --helpers 0: alone).
              With --replan, then what a publish does next in its
              transaction (`schedule.after_publish`): every record's firings
              planned again.
  impact      the impact preview of that change (designer.bundles.impact),
              which writes nothing, over the same records: alone, then
              with --helpers processes counting id ranges beside it.

Figures are printed, never asserted. Sizes are arguments:

    python benchmarks/bulk.py --db sqlite --rows 20000 --customers 20000     # a smoke run
    python benchmarks/bulk.py --db both                                      # 1,000,000 of each
    python benchmarks/bulk.py --db postgresql --sections reclassify,impact --customers 200000

PostgreSQL is TIERWISE_BENCH_PG, else TIERWISE_TEST_PG, else
postgresql://postgres@127.0.0.1:5432/test, in a schema of its own.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import runtime  # noqa: E402  (benchmarks/runtime.py: generator, targets, bulk loader)

BUNDLE_PATH = runtime.BUNDLE_PATH
#: the rule change that is published: A from 400,000 instead of 500,000 a year
CHANGE = ('{when: "order_total_12m >= 500000",', '{when: "order_total_12m >= 400000",')
#: `tierwise import` in a child that reports its own peak memory (VmHWM) when it exits: a child's rusage also
#: counts the pages of this process it was forked from (Linux keeps the larger peak across exec)
IMPORT = ("import atexit, resource, sys\n"
          "def peak():\n"
          "    print(*[line for line in open('/proc/self/status') if line.startswith('VmHWM:')], file=sys.stderr)\n"
          "    print('HelperHWM:', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'kB', file=sys.stderr)\n"
          "atexit.register(peak)\n"
          "from designer.cli import main\n"
          "main()\n")


def say(line: str = ""):
    print(line, flush=True)


def peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def make_app(target):
    from designer.app import create_app
    from designer.db import engine_of
    from designer.migrate import upgrade
    app = create_app({"DATABASE_URL": target.url, "INSTANCE_PATH": str(target.instance), "SECRET_KEY": "bench"})
    upgrade(engine_of(app))
    return app


def publish(app, source: str, now: datetime):
    from designer.bundles.publish import publish as run
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        return run(s, source, BUNDLE_PATH.name, actor="admin", note="bulk benchmark", now=now).id


# -- import ----------------------------------------------------------------------------------------

def write_csv(path: Path, n: int, gen) -> list[str]:
    from designer.workflows.actions import show  # a value as a person writes it: 是/否, lists with 、
    from engine import load_bundle
    fields = [k for k, f in load_bundle(BUNDLE_PATH).objects["customer"].fields.items()
              if "formula" not in f.spec and f.type != "autonumber"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(fields)
        for i in range(n):
            values = gen.one(i)["fields"]
            out.writerow([show(values.get(k)) for k in fields])
    return fields


def baseline_insert(rows: list[list[str]]) -> float:
    """Rows/s of one executemany of the same rows into a scratch SQLite table: the machine's floor."""
    import sqlite3
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE TABLE t ({', '.join(f'c{i} TEXT' for i in range(len(rows[0])))})")
    started = time.perf_counter()
    conn.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.commit()
    return len(rows) / (time.perf_counter() - started)


def section_import(db: str, args, helper: bool) -> dict:
    how = "checked a batch ahead by a helper process" if helper else "checked in the import's own process"
    say(f"== import {args.rows:,} CSV rows ({db}; {how})")
    target = runtime.Target(db, None)
    try:
        now = datetime.now(UTC)
        app = make_app(target)
        publish(app, BUNDLE_PATH.read_text("utf-8"), now)
        from designer.db import engine_of
        engine_of(app).dispose()
        from engine import load_bundle
        gen = runtime.Generator(now, load_bundle(BUNDLE_PATH).tz, 0)
        path = target.tmp / "customers.csv"
        t = time.perf_counter()
        write_csv(path, args.rows, gen)
        say(f"  wrote {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        with path.open(encoding="utf-8") as fh:
            sample = list(csv.reader(fh))[1:min(args.rows, 100_000) + 1]
        floor = baseline_insert(sample)
        command = [sys.executable, "-c", IMPORT, "import", str(path),
                   "--object", "customer", "--database", target.url, "--instance", str(target.instance)]
        env = dict(os.environ, TIERWISE_IMPORT_AHEAD_FROM="0" if helper else str(10 ** 12))
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 env=env)
        try:
            _, err = child.communicate(timeout=args.import_budget)
            stopped = False
        except subprocess.TimeoutExpired:  # a slow import is measured on the rows it committed in the budget
            child.terminate()
            _, err = child.communicate()
            stopped = True
        seconds = time.perf_counter() - started
        if child.returncode != 0 and not stopped:
            raise SystemExit(f"tierwise import failed:\n{err[-3000:]}")
        own = re.search(r"VmHWM:\s*(\d+) kB", err)  # none when stopped at the budget: the rusage figure then
        rss = int(own[1]) / 1024 if own else peak_mb(resource.RUSAGE_CHILDREN)
        helped = re.search(r"HelperHWM:\s*(\d+) kB", err)
        helper_rss = int(helped[1]) / 1024 if helped and helper else 0.0
        from sqlalchemy import func, select

        from designer.db import transaction
        from designer.models import Record
        with app.app_context(), transaction(app) as s:
            imported = s.scalar(select(func.count()).select_from(Record).where(Record.object == "customer"))
        engine_of(app).dispose()
        rate = imported / seconds
        budget = f" (stopped after the {args.import_budget:,} s budget: {imported:,} of {args.rows:,} rows)" if stopped else ""
        beside = f" (its helper's: {helper_rss:,.0f} MB)" if helper_rss else ""
        say(f"  tierwise import: {imported:,} records in {seconds:.1f} s = {rate:,.0f} rows/s "
            f"(target >= 10,000), peak RSS {rss:,.0f} MB{beside} (target < 500 MB){budget}")
        slower = f"import is {floor / rate:,.0f}x slower" if rate else "no batch of the import was committed"
        say(f"  baseline: executemany into a scratch table {floor:,.0f} rows/s; {slower}")
        return {"rows": args.rows, "imported": imported, "seconds": seconds, "rows_per_s": rate, "peak_rss_mb": rss,
                "helper_peak_rss_mb": helper_rss, "baseline_rows_per_s": floor, "stopped_at_budget": stopped}
    finally:
        target.drop()


# -- reclassify and impact -------------------------------------------------------------------------

def load_world(target, bundle, version: int, n: int, children_per: float, now: datetime) -> int:
    """Customers and children as the store would hold them before a publish: values only (computed empty)."""
    from engine import codecs
    gen = runtime.Generator(now, bundle.tz, children_per)
    loader = runtime.Loader(target)
    obj = bundle.objects["customer"]
    clf = bundle.classifier("customer")
    inputs = [k for k, f in obj.fields.items() if "formula" not in f.spec]
    kids_of = {k: (bundle.classifier(k), [fk for fk, f in bundle.objects[k].fields.items() if "formula" not in f.spec])
               for k in obj.children}
    dumps, to_json = codecs.dumps, codecs.to_json
    next_id, children = 1, 0
    started = time.perf_counter()
    for i in range(n):
        c = gen.one(i)
        typed = clf.coerce(dict(c["fields"]), problems=[])
        data = {k: to_json(typed[k]) for k in inputs}
        cid = next_id
        next_id += 1
        actor = c["owner"] or "admin"
        row = {"id": cid, "object": "customer", "parent_id": None, "owner": c["owner"], "pool": c["pool"],
               "title": data.get("name"), "data": dumps(data), "computed": "{}", "explain": "{}",
               "bundle_version": version, "created_at": c["created_at"], "updated_at": c["updated_at"],
               "created_by": actor, "updated_by": actor, "version": 1}
        kids = []
        for key, (kclf, kinputs) in kids_of.items():
            for values in c[key]:
                ktyped = kclf.coerce(values, problems=[])
                at = max(c["created_at"], now - timedelta(days=(i * 7 + len(kids)) % 700))
                kids.append({"id": next_id, "object": key, "parent_id": cid, "owner": None, "pool": None,
                             "title": None, "data": dumps({k: to_json(ktyped[k]) for k in kinputs}), "computed": "{}",
                             "explain": "{}", "bundle_version": version, "created_at": at, "updated_at": at,
                             "created_by": actor, "updated_by": actor, "version": 1})
                next_id += 1
        children += len(kids)
        loader.add(row, kids, [])
        if (i + 1) % max(1, n // 5) == 0:
            say(f"    {i + 1:>10,} customers {children:>11,} children loaded "
                f"({(i + 1 + children) / (time.perf_counter() - started):,.0f} rows/s)")
    loader.finish({}, next_id - 1, lambda line: None)
    return children


def replan(app, cur, source: str, later: datetime, customers: int, target,
           workers: int) -> tuple[float, float | None]:
    """What a publish does after reclassifying: in its transaction, `schedule.after_publish` (beyond
    `schedule.INLINE` records, only the workspace-wide part and the first link of each `replan` chain); then,
    committed, the chains' links one transaction each: by this process as a worker runs them, or with
    `workers`, by that many `tierwise worker --once` processes side by side (what is due at the publish's
    instant, the chains' links among it). Seconds of each."""
    from sqlalchemy import func, select

    from designer.db import transaction
    from designer.models import BundleVersion, Firing
    from designer.workflows import replan as chain
    from designer.workflows.schedule import after_publish
    from designer.workflows.worker import run_one
    with app.app_context(), transaction(app) as s:  # the version the workers read as current, as published
        s.add(BundleVersion(id=cur.version, bundle_key=cur.bundle.id, source=source, filename=BUNDLE_PATH.name,
                            published_at=later, published_by="admin", note="bulk benchmark", report={}))
    with app.app_context(), transaction(app) as s:
        t = time.perf_counter()
        later_n = after_publish(s, cur, later)
        held = time.perf_counter() - t
    say(f"  re-planning in the publish's transaction: {held:.1f} s "
        f"({'the workspace-wide part; ' + format(later_n, ',') + ' records left to the workers' if later_n else 'every record'})")
    if not later_n:
        return held, None
    t = time.perf_counter()
    if workers:
        command = [sys.executable, "-c", "from designer.cli import main; main()", "worker", "--once", "--engine",
                   "loop", "--as-of", later.isoformat(), "--database", target.url, "--instance", str(target.instance)]
        procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(workers)]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"tierwise worker failed:\n{err[-3000:]}")
    else:
        with app.app_context():
            while True:
                with transaction(app) as s:
                    link = s.scalar(select(Firing).where(Firing.kind == chain.KIND, Firing.status == "pending"))
                    if link is None:
                        break
                    run_one(s, cur, link, later)
    chain_s = time.perf_counter() - t
    with app.app_context(), transaction(app) as s:
        links = s.scalar(select(func.count()).select_from(Firing).where(Firing.kind == chain.KIND,
                                                                        Firing.status == "done"))
        left = s.scalar(select(func.count()).select_from(Firing).where(Firing.kind == chain.KIND,
                                                                       Firing.status == "pending"))
        others = dict(s.execute(select(Firing.kind, func.count()).where(Firing.kind != chain.KIND,
                                                                        Firing.finished_at == later)
                                .group_by(Firing.kind)).all())  # what else the workers ran, as of `later`
    chains = chain.STRIPES["postgresql" if target.url.startswith("postgresql") else "sqlite"]
    by = f"{workers} worker process{'es' if workers != 1 else ''}" if workers else "this process"
    say(f"  then the workers' chains: {links:,} links of up to {chain.CHUNK:,} records ({chains} chain(s)) by {by} "
        f"in {chain_s:.1f} s ({customers / chain_s:,.0f} customers/s; follow-ups set-based per link, pool reclaims, "
        f"date automations and time-driven instants in Python), each link one transaction{'; ' + str(left) + ' LEFT PENDING' if left else ''}"
        f"{'; the workers also ran ' + str(others) + ' that fell due meanwhile' if others else ''}")
    return held, chain_s


def section_reclassify(db: str, args, results: dict):
    say(f"== reclassify {args.customers:,} customers, ~{args.customers * args.children_per:,.0f} children ({db}, "
        f"{args.helpers} helper processes)")
    from sqlalchemy import func, select

    from designer.bundles import bulk
    from designer.bundles.impact import preview
    from designer.bundles.workspace import Current, current
    from designer.db import engine_of, transaction
    from designer.models import ClassificationChange, Record
    from engine import load_bundle_text
    target = runtime.Target(db, None)
    app = None
    try:
        now = datetime.now(UTC)
        app = make_app(target)
        source = BUNDLE_PATH.read_text("utf-8")
        version = publish(app, source, now)
        with app.app_context(), transaction(app) as s:
            bundle = current(s).bundle
        engine_of(app).dispose()
        t = time.perf_counter()
        children = load_world(target, bundle, version, args.customers, args.children_per, now)
        say(f"  loaded {args.customers:,} customers + {children:,} children in {time.perf_counter() - t:.0f} s")
        with app.app_context(), transaction(app) as s:
            t = time.perf_counter()
            first = bulk.reclassify(s, Current(version, bundle), now, helpers=args.helpers)
            say(f"  first classification in SQL: {time.perf_counter() - t:.1f} s ({first['reclassified']:,} records)")
        changed = load_bundle_text(source.replace(*CHANGE), BUNDLE_PATH.name)
        later = now + timedelta(hours=1)
        cur = Current(version + 1, changed)
        sample = min(args.python_sample, args.customers)
        with app.app_context(), transaction(app) as s:
            t = time.perf_counter()
            bulk.reclassify_python(s, cur, later, ["customer"], limit=sample)
            python_s = time.perf_counter() - t
            s.rollback()
        per_record = python_s / sample
        python_total = per_record * args.customers
        say(f"  Python, record by record: {sample:,} customers in {python_s:.1f} s = {per_record * 1000:.2f} ms each; "
            f"extrapolated to {args.customers:,}: {python_total:,.0f} s")
        rss_before = peak_mb()
        with app.app_context(), transaction(app) as s:
            before = s.scalar(select(func.count()).select_from(ClassificationChange))
            t = time.perf_counter()
            outcome = bulk.reclassify(s, cur, later, helpers=args.helpers)
            sql_s = time.perf_counter() - t
            moved = s.scalar(select(func.count()).select_from(ClassificationChange)) - before
            t = time.perf_counter()
        commit_s = time.perf_counter() - t
        say(f"  SQL: {args.customers:,} records reclassified in {sql_s:.1f} s + commit {commit_s:.1f} s "
            f"({args.customers / (sql_s + commit_s):,.0f} records/s), {outcome['reclassified']:,} rewritten "
            f"(values or explanation changed), {moved:,} history rows, "
            f"in SQL: {outcome['sql']}, in Python: {outcome['python'] or 'none'}; "
            f"peak RSS {peak_mb():,.0f} MB (before {rss_before:,.0f} MB)")
        ratio = python_total / (sql_s + commit_s)
        say(f"  SQL is {ratio:,.1f}x faster than Python (target >= 10x); "
            f"{'under' if sql_s + commit_s < 60 else 'OVER'} 60 s")
        replan_s = chain_s = None
        if args.replan:  # what a publish does next: plan every record's firings again
            replan_s, chain_s = replan(app, cur, source.replace(*CHANGE), later, args.customers, target, args.workers)
        with app.app_context(), transaction(app) as s:
            versions = dict(s.execute(select(Record.bundle_version, func.count()).where(Record.object == "customer")
                                      .group_by(Record.bundle_version)).all())
            back = load_bundle_text(source.replace(*CHANGE[::-1]))
            t = time.perf_counter()
            impact = preview(s, Current(version + 1, changed), back, later)
            impact_s = time.perf_counter() - t
            helped_s = None
            if args.helpers:
                t = time.perf_counter()
                helped = preview(s, Current(version + 1, changed), back, later, helpers=args.helpers)
                helped_s = time.perf_counter() - t
        tier = impact["objects"]["customer"]["classifications"]["tier"]
        say(f"  impact preview of changing it back: {impact['records']:,} records in {impact_s:.2f} s "
            f"(= {impact_s / max(impact['records'], 1) * 100_000:.2f} s per 100,000 records; target < 2 s at 100,000); "
            f"{tier['moved']:,} would change tier")
        if helped_s is not None:
            say(f"  the same with {args.helpers} helper processes counting id ranges: {helped_s:.2f} s "
                f"({impact_s / helped_s:.2f}x; {'the same' if helped == impact else 'a DIFFERENT'} preview)")
        results[db] = {"customers": args.customers, "children": children, "python_ms_per_record": per_record * 1000,
                       "python_extrapolated_s": python_total, "sql_s": sql_s + commit_s, "ratio": ratio,
                       "history_rows": moved, "impact_s": impact_s, "impact_helped_s": helped_s, "replan_s": replan_s, "replan_chain_s": chain_s, "versions": {str(v): n for v, n in versions.items()}}
    finally:
        if app is not None:
            engine_of(app).dispose()
        target.drop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000, help="CSV rows to import")
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers to reclassify")
    parser.add_argument("--children-per", type=float, default=5.0, help="children per customer on average")
    parser.add_argument("--python-sample", type=int, default=2_000, help="customers the Python path is timed on")
    parser.add_argument("--replan", action="store_true",
                        help="also time what a publish does after reclassifying: every record's firings planned again")
    parser.add_argument("--workers", type=int, default=0,
                        help="with --replan: run the chains by this many `tierwise worker --once` processes "
                             "(0: in this process)")
    parser.add_argument("--helpers", type=int, default=None,
                        help="helper processes beside the publish's connection (default: as a publish job, "
                             "designer.bundles.bulk.HELPERS; 0: none)")
    parser.add_argument("--import-budget", type=int, default=900,
                        help="seconds the import may run; a slower one is measured on the rows committed by then")
    parser.add_argument("--sections", default="import,reclassify", help="import, reclassify (with impact)")
    parser.add_argument("--import-helper", choices=["on", "off", "both"], default="on",
                        help="rows checked a batch ahead by a helper process (designer.imports.ahead), or in the "
                             "import's own process, or the import run each way (the second in a new database)")
    args = parser.parse_args(argv)
    if args.helpers is None:
        from designer.bundles.bulk import HELPERS
        args.helpers = HELPERS
    sections = set(args.sections.split(","))
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results: dict = {}
    for db in dbs:
        if "import" in sections:
            ways = {"on": [True], "off": [False], "both": [True, False]}[args.import_helper]
            for helper in ways:
                results[f"import-{db}" + ("" if helper else "-alone")] = section_import(db, args, helper)
            if len(ways) == 2 and results[f"import-{db}-alone"]["rows_per_s"]:
                say(f"  with the helper: {results[f'import-{db}']['rows_per_s'] / results[f'import-{db}-alone']['rows_per_s']:.2f}x "
                    f"the rows/s of the import alone")
        if "reclassify" in sections:
            section_reclassify(db, args, results)
    say("== summary")
    for key, value in results.items():
        say(f"  {key}: " + ", ".join(f"{k} {v:,.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items()))


if __name__ == "__main__":
    main()
