"""The batched import path stores exactly what the row-by-row path stores, and a crash leaves no partial batch.

The same files are imported into two empty workspaces published with the
manufacturing template (follow-ups, a pool, a `date` and a `created`
automation, a warn and a block duplicate rule, an autonumber): one through
`records.store.save` row by row, the other through `imports.batch`. Every
table the import writes to is then compared row for row.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from designer.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "examples" / "manufacturing"
USERS = ["alice", "bob", "carol", "dave"]
#: tables an import writes to, and the columns whose values say when the test ran (not what was stored)
TABLES = {"records": (), "duplicate_keys": (), "audit_log": (), "classification_history": (), "counters": (),
          "schedule": ("created_at",), "tasks": ("created_at",), "workflow_events": (), "notifications": ("created_at",),
          "outbox": ("created_at",), "import_problems": (), "import_jobs": ("created_at", "heartbeat_at", "finished_at", "options")}


def _sample(n: int) -> list[dict]:
    with (TEMPLATE / "customers.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def _write(path: Path, rows: list[dict]) -> Path:
    from designer.workflows.actions import show  # a value as a person writes it: 是/否, lists with 、
    from engine import load_bundle
    obj = load_bundle(TEMPLATE / "bundle.yaml").objects["customer"]
    fields = [k for k, f in obj.fields.items() if f.formula is None and f.type != "autonumber"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([obj.fields[k].label for k in fields])
        for row in rows:
            out.writerow([show(row.get(k)) for k in fields])
    return path


@pytest.fixture
def files(tmp_path) -> list[tuple[Path, list[str]]]:
    """(CSV file, import options) in the order they are imported: new rows, bad rows, duplicates of every kind."""
    sample = _sample(48)
    first = [dict(r) for r in sample[:30]]
    first[4]["mobile"] = "12345"  # bad value: fails
    first[9]["name"] = None  # required: fails
    first[12] = {**first[3], "mobile": "13900000001"}  # the company of row 3 again (warn): skipped
    first[20] = {**first[20], "mobile": first[2]["mobile"]}  # the mobile of row 2 again (block): skipped
    # the company of row 8 in the same batch: skipped, named with the owner an automation gave row 8
    first[11] = {**first[8], "mobile": "13900000004"}
    second = [dict(r) for r in sample[30:32]] + [
        {**sample[31], "mobile": "13900000003"},  # warn duplicate of a row of the same batch: imported, warned
    ] + [dict(r) for r in sample[32:44]] + [
        {**sample[5], "mobile": "13900000002"},  # warn duplicate of a stored record: imported anyway, warned
        {**sample[6]},  # block duplicate of a stored record: fails
    ]
    third = [dict(r) for r in sample[44:48]]
    return [(_write(tmp_path / "first.csv", first), ["--mode", "partial", "--duplicates", "skip"]),
            (_write(tmp_path / "second.csv", second), ["--mode", "partial", "--duplicates", "new", "--owner", "bob"]),
            (_write(tmp_path / "third.csv", third), ["--mode", "all", "--duplicates", "skip"])]


@pytest.fixture
def twin_url(tmp_path):
    """A second empty database like `database_url` (a schema of its own on PostgreSQL)."""
    if os.environ.get("TIERWISE_TEST_DB", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    from designer.db import make_engine
    pg = os.environ.get("TIERWISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def workspace(frozen):
    """workspace(url, instance, bundle=the template, users=USERS) -> an app on `url` with the bundle published
    and the users, ready to import."""
    from designer.app import create_app
    from designer.auth.users import add_user
    from designer.bundles.publish import publish
    from designer.db import engine_of, transaction
    from designer.migrate import upgrade
    apps = []

    def workspace(url: str, instance: Path, bundle: Path = TEMPLATE / "bundle.yaml", users=USERS):
        app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "TESTING": True,
                          "SECRET_KEY": "test"})
        apps.append(app)
        upgrade(engine_of(app))
        with app.app_context(), transaction(app) as s:
            publish(s, bundle.read_text("utf-8"), bundle.name, actor="admin", now=frozen)
            for user in users:
                add_user(s, user, f"pw-{user}-secret", role="rep")
        return app
    yield workspace
    for app in apps:
        engine_of(app).dispose()


def _import(url: str, instance: Path, path: Path, options: list[str], object_key: str = "customer"):
    result = CliRunner().invoke(main, ["import", str(path), "--object", object_key, *options,
                                       "--database", url, "--instance", str(instance)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert " imported " in result.output, result.output  # exit code 1 says some rows failed
    return result.output


def _snapshot(app) -> dict[str, list]:
    """Every row of the tables an import writes to, without surrogate ids, in a stable order."""
    from designer.db import engine_of
    out = {}
    with engine_of(app).connect() as conn:
        for table, skipped in TABLES.items():
            rows = conn.execute(text(f"SELECT * FROM {table}")).mappings().all()  # noqa: S608 (fixed names)
            out[table] = sorted(json.dumps({k: v for k, v in row.items() if k != "id" and k not in skipped},
                                           sort_keys=True, default=str, ensure_ascii=False) for row in rows)
    return out


def _count_planning(monkeypatch, counts: Counter):
    """Count the new records whose next time-driven instant and follow-up cadences the planners compute
    (`schedule.plan_new`), rather than take them from what the batch worked out while checking the rows."""
    from designer.workflows import followups, schedule
    from engine.timeline import Timeline
    real_plan, real_next, real_cadence = schedule.plan_new, Timeline.next_change, followups.cadence_values
    planning = []

    def plan_new(*args):
        planning.append(1)
        try:
            return real_plan(*args)
        finally:
            planning.pop()

    def counted(what, real):
        return lambda *a: (counts.update([what]) if planning else None) or real(*a)
    monkeypatch.setattr(schedule, "plan_new", plan_new)
    monkeypatch.setattr(Timeline, "next_change", counted("next_change", real_next))
    monkeypatch.setattr(followups, "cadence_values", counted("cadence", real_cadence))


def _spied(helped: list):
    """A ProcessPoolExecutor that puts the number of batches handed to it in `helped` when shut down."""
    from concurrent.futures import ProcessPoolExecutor

    class Spied(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.handed = 0

        def submit(self, *args, **kwargs):
            self.handed += 1
            return super().submit(*args, **kwargs)

        def shutdown(self, *args, **kwargs):
            if self.handed is not None:
                helped.append(self.handed)
                self.handed = None
            super().shutdown(*args, **kwargs)
    return Spied


def _per_row(rows, session, chunk, now, _checked):
    return [rows.save(session, cells, now) for _number, cells in chunk]


#: a `created` automation that cannot be held (it notifies): the batch then runs its automations per record
NOTIFYING = """
  - key: welcome
    label: 新客户建档后通知负责人
    object: customer
    on: created
    do:
      - notify: {to: owner, text: "新客户：{name}"}
"""


@pytest.mark.parametrize("automations", ["held", "per record", "held, rows checked by a helper"])
def test_the_batched_path_stores_what_the_row_by_row_path_stores(database_url, twin_url, files, workspace, tmp_path,
                                                                  monkeypatch, automations):
    from designer.imports import ahead, batch, runner
    from designer.records import duplicates
    monkeypatch.setattr(runner, "BATCH", 7)  # several batches per file, some cut by a duplicate within the batch
    if "helper" in automations:  # the batches checked ahead in a helper process (imports.ahead), however few
        monkeypatch.setenv("TIERWISE_IMPORT_AHEAD_FROM", "0")
    bundle = TEMPLATE / "bundle.yaml"
    if automations == "per record":
        bundle = tmp_path / "bundle.yaml"
        bundle.write_text((TEMPLATE / "bundle.yaml").read_text("utf-8").rstrip() + "\n" + NOTIFYING, "utf-8")
    slow = workspace(database_url, tmp_path / "slow", bundle)
    fast = workspace(twin_url, tmp_path / "fast", bundle)
    calls, lookups = [], []
    real, real_lookup = batch._Batch.run, duplicates.stored_many
    monkeypatch.setattr(batch._Batch, "run", lambda self, values: calls.append(len(values)) or real(self, values))
    monkeypatch.setattr(duplicates, "stored_many", lambda *a: lookups.append(1) or real_lookup(*a))
    said, planned, helped = {}, Counter(), []
    for name, url in (("slow", database_url), ("fast", twin_url)):
        if name == "slow":
            monkeypatch.setattr(runner, "save_many", _per_row)
        else:
            monkeypatch.setattr(runner, "save_many", batch.save_many)
            _count_planning(monkeypatch, planned)
            monkeypatch.setattr(ahead, "ProcessPoolExecutor", _spied(helped))
        said[name] = [_import(url, tmp_path / name, path, options) for path, options in files]
    assert calls and sum(calls) == 30 + 17 + 4  # every row of the fast workspace went through the batch
    assert len(helped) == (3 if "helper" in automations else 0)  # one helper per file
    assert all(n > 0 for n in helped)  # ... which checked the batches
    if automations == "per record":  # their automations may change any value: planned after they ran
        assert planned["next_change"] == planned["cadence"] == 25 + 16 + 4
    else:  # the row's values decide both: worked out as it was checked, not planned again
        assert planned == Counter(), planned
    assert len(lookups) == len(calls) + 2  # one duplicate query per batch, and one after each of the two cuts
    assert said["slow"] == said["fast"]
    assert "imported 25, updated 0, skipped 3, failed 2" in said["fast"][0]
    assert "imported 16, updated 0, skipped 0, failed 1" in said["fast"][1]
    slow_rows, fast_rows = _snapshot(slow), _snapshot(fast)
    for table in TABLES:
        assert fast_rows[table] == slow_rows[table], table
    assert len(fast_rows["records"]) == 25 + 16 + 4
    datas = [json.loads(r)["data"] for r in fast_rows["records"]]  # JSON text on SQLite
    numbers = [(json.loads(d) if isinstance(d, str) else d)["customer_no"] for d in datas]
    assert all(numbers) and len(set(numbers)) == len(numbers)  # numbered as they were written
    kinds = {json.loads(f)["kind"] for f in fast_rows["schedule"]}
    assert {"reminder", "pool_reclaim", "automation_date"} <= kinds
    assert any('"assign_new_lead"' in e for e in fast_rows["workflow_events"])
    assert bool(fast_rows["notifications"]) == (automations == "per record")
    cut = [json.loads(p)["message"] for p in fast_rows["import_problems"] if json.loads(p)["file_row"] == 13]
    assert len(cut) == 1 and any(user in cut[0] for user in USERS), cut  # row 8's owner, given by the automation


ASSIGNING = ROOT / "tests" / "data" / "automations_assign.yaml"


#: a time-driven rule and a follow-up cadence of leads that read the owner, which the round robin gives
#: after the row was checked: their planning cannot be worked out from the row (`imports.planned`)
READING_THE_OWNER = """
classifications:
  - key: heat
    object: lead
    label: 热度
    hit: first
    values: [冷, 热]
    rules:
      - {when: "owner is empty or days_since(created_at) > 10", value: 冷, label: 无人跟进或建档超过 10 天}
    default: 热
followup:
  - key: lead_cadence
    object: lead
    cadence:
      - {when: "owner == 'u1'", every: 3d, label: u1 的线索 3 天一跟}
      - {when: "heat == '冷'", every: 7d, label: 冷线索每周一跟}
    reminders:
      - {at: 1d, notify: owner}
"""


@pytest.mark.parametrize("variant", ["plain", "planning reads the owner"])
def test_created_assignments_in_a_batch_are_those_of_single_saves(database_url, twin_url, workspace, tmp_path,
                                                                  monkeypatch, variant):
    """Round robin and least loaded run on each new record before the batch's INSERT (held), in file order:
    the same owners, turns, counters and events as one save after the other, across batches and files; an
    automation that also notifies (rule + notify) runs per record after the INSERT. Where a lead's planning
    reads its owner, the planners compute it after the assignment, as a save's do."""
    from designer.imports import batch, runner
    from designer.imports.planned import Foresight
    from designer.workflows import actions, automations
    from engine import load_bundle
    source = ASSIGNING
    if variant != "plain":
        source = tmp_path / "bundle.yaml"
        source.write_text(ASSIGNING.read_text("utf-8").rstrip() + "\n" + READING_THE_OWNER, "utf-8")
    bundle = load_bundle(source)
    assert automations.can_hold(bundle, "lead") and automations.can_hold(bundle, "ticket")
    assert not automations.can_hold(bundle, "account")
    if variant != "plain":
        foresight = Foresight(bundle, bundle.objects["lead"])
        assert foresight.timeline is None and foresight.policies is None
    monkeypatch.setattr(runner, "BATCH", 5)
    users = ["u1", "u2", "u3", "u4"]
    slow = workspace(database_url, tmp_path / "slow", source, users)
    fast = workspace(twin_url, tmp_path / "fast", source, users)

    def table(name: str, heading: list[str], rows: list[list[str]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([heading, *rows])
        return path

    files = [  # (file, options, object): owned records first, so that least loaded starts uneven
        (table("owned.csv", ["名称"], [[f"旧工单{i}"] for i in range(4)]), ["--owner", "u1"], "ticket"),
        (table("tickets.csv", ["名称"], [[f"工单{i}"] for i in range(13)]), [], "ticket"),
        (table("more-tickets.csv", ["名称"], [[f"工单b{i}"] for i in range(3)]), ["--owner", "u3"], "ticket"),
        (table("tickets-again.csv", ["名称"], [[f"工单c{i}"] for i in range(6)]), [], "ticket"),
        (table("leads.csv", ["名称"], [[f"线索{i}"] for i in range(11)]), [], "lead"),
        (table("leads-again.csv", ["名称"], [[f"线索b{i}"] for i in range(3)]), ["--mode", "all"], "lead"),
        (table("accounts.csv", ["名称", "行业"], [[f"客户{i}", ["教育", "医疗", "零售", ""][i % 4]] for i in range(7)]),
         [], "account"),
    ]
    held = []
    real_held = actions.Held.__init__
    monkeypatch.setattr(actions.Held, "__init__", lambda self, session: held.append(1) or real_held(self, session))
    for name, url in (("slow", database_url), ("fast", twin_url)):
        monkeypatch.setattr(runner, "save_many", _per_row if name == "slow" else batch.save_many)
        for path, options, object_key in files:
            _import(url, tmp_path / name, path, options, object_key)
    assert len(held) >= 8  # every batch of tickets and leads held its automations
    slow_rows, fast_rows = _snapshot(slow), _snapshot(fast)
    for name in TABLES:
        assert fast_rows[name] == slow_rows[name], name
    owners = [json.loads(r)["owner"] for r in fast_rows["records"] if "线索" in json.loads(r)["title"]]
    assert sorted(owners) == sorted(users * 3 + ["u1", "u2"])
    assert sum('"kind": "assign"' in e for e in fast_rows["workflow_events"]) == 13 + 6 + 14 + 7
    if variant != "plain":  # planned with their owners: u1's leads every 3 days, the others' every 7
        kinds = Counter(json.loads(f)["kind"] for f in fast_rows["schedule"])
        assert kinds["reminder"] == 14 and kinds["reclassify"] == 14, kinds
        dues = Counter((json.loads(r)["owner"], json.loads(r)["followup_due_at"][:10]) for r in fast_rows["records"]
                       if "线索" in json.loads(r)["title"])
        assert len({due for (owner, due) in dues if owner == "u1"} & {due for (owner, due) in dues if owner != "u1"}) == 0


ODD_VALUES = [Decimal("1.50"), Decimal("2"), Decimal("1E+2"), Decimal("-0.000001"), Decimal("12345678901234567890.10"),
              date(2026, 2, 28), datetime(2026, 3, 1, 9, 30, tzinfo=UTC), timedelta(seconds=1.5), timedelta(days=2),
              None, True, 0, 1.25, "引号\"\u2028\n\t", ["a", Decimal("0.10"), (1, 2)],
              {"nested": {"d": date(2026, 1, 1)}}]


@pytest.mark.parametrize("value", ODD_VALUES, ids=[repr(v)[:40] for v in ODD_VALUES])
def test_json_encoded_once_is_the_text_of_a_json_column(value):
    """The batch encodes typed values in one pass (`codecs.dumps_typed`) and builds an explanation from its
    parts: the same text as the JSON-ready copy through the columns' serializer."""
    from engine import codecs
    expected = codecs.dumps(codecs.to_json({"v": value, "w": [value]}))
    assert codecs.dumps_typed({"v": value, "w": [value]}) == expected
    assert codecs.join_object({"v": codecs.dumps_typed(value), "w": codecs.dumps_typed([value])}) == expected


class Crash(Exception):
    """The process dies after a batch is written, before it commits."""


@pytest.mark.parametrize("mode", ["partial", "all"])
def test_a_crash_in_a_batch_leaves_none_of_it(database_url, files, workspace, tmp_path, monkeypatch, mode):
    from designer.imports import batch, runner
    from designer.models import AuditEntry, ClassificationChange, DuplicateKey, Firing, Record
    monkeypatch.setattr(runner, "BATCH", 10)
    app = workspace(database_url, tmp_path / "w")
    real = batch._Batch._insert

    def crash(self, changes, rows):
        real(self, changes, rows)
        if min(c.record_id for c in changes) > 5:  # the second batch: its records, keys, audit, firings are written
            raise Crash("killed")

    monkeypatch.setattr(batch._Batch, "_insert", crash)
    path, _options = files[0]
    result = CliRunner().invoke(main, ["import", str(path), "--object", "customer", "--mode", mode,
                                       "--database", database_url, "--instance", str(tmp_path / "w")])
    assert result.exit_code == 1 and "Crash" in result.output
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        ids = s.scalars(select(Record.id).order_by(Record.id)).all()
        assert len(ids) == (0 if mode == "all" else 8)  # the first batch of ten less its two bad rows, or nothing
        for model in (AuditEntry, ClassificationChange, DuplicateKey, Firing):
            assert all(rid in ids for rid in s.scalars(select(model.record_id)) if rid is not None), model.__name__
        assert s.scalar(text("SELECT count(*) FROM duplicate_keys")) == 2 * len(ids)
