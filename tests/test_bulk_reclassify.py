"""Reclassification in SQL (designer.bundles.bulk) gives what the per-record Python path gives.

Each case loads sample records, then reclassifies them twice at a later
instant — once per record in Python (rolled back), once in the database —
and compares every record's `computed` (identical), `explain` (equal once
datetimes are read as instants and numbers as decimals) and the history
rows each path writes.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from engine import codecs, load_bundle_text

ROOT = Path(__file__).resolve().parent.parent
CRM = ROOT / "tests" / "data" / "crm.bundle.yaml"
CASES = yaml.safe_load((ROOT / "tests" / "data" / "bulk_cases.yaml").read_text("utf-8"))
TEMPLATES = ["education", "manufacturing", "medical", "retail", "saas"]
#: Sample customers loaded per template (the first ones of customers.jsonl)
SAMPLE = 60


def _load_template(app, name):
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    folder = ROOT / "examples" / name
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for line in folder.joinpath("customers.jsonl").read_text("utf-8").splitlines()[:SAMPLE]:
            raw = codecs.loads(line)
            owner = raw.pop("owner", None)
            created = raw.pop("created_at", None)
            raw.pop("id", None)
            save(s, cur, owner, "customer", raw, owner=owner, now=datetime.fromisoformat(created), allow_duplicates=True)


def _load_records(app, records):
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for values in records:
            save(s, cur, "alice", "customer", values, owner="alice", now=datetime.fromisoformat(CASES["as_of"]),
                 allow_duplicates=True)


def _norm(value):
    """Explanations compared as values: a datetime as its instant, a number as a decimal."""
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        d = Decimal(str(value))
        return int(d) if d == d.to_integral_value() else d.normalize()
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        try:
            return datetime.fromisoformat(value).astimezone(UTC).isoformat()
        except ValueError:
            return value
    return value


def _snapshot(s, since: int):
    from designer.models import ClassificationChange, Record
    records = {r.id: (r.computed, r.explain, r.bundle_version)
               for r in s.scalars(select(Record).where(Record.parent_id.is_(None)))}
    history = sorted((h.record_id, h.key, codecs.dumps(_norm(h.old)), codecs.dumps(_norm(h.new)), h.cause, h.bundle_version,
                      json.dumps(_norm(h.explain), sort_keys=True, default=str)) for h in
                     s.scalars(select(ClassificationChange).where(ClassificationChange.id > since)))
    return records, history


def _both_paths(app, days: int, bundle=None):
    """(Python snapshot, SQL snapshot, SQL outcome) of reclassifying every record `days` after as_of
    under `bundle` (a new version of it), by default the bundle in force."""
    from designer.bundles import bulk
    from designer.bundles.workspace import Current, current
    from designer.db import transaction
    from designer.models import ClassificationChange
    later = datetime.fromisoformat(CASES["as_of"]) + timedelta(days=days)
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        again = Current(cur.version + 1, bundle or cur.bundle)
        since = s.scalar(select(func.max(ClassificationChange.id))) or 0
        tops = [k for k, o in cur.bundle.objects.items() if o.parent is None]
        savepoint = s.begin_nested()
        bulk.reclassify_python(s, again, later, tops)
        python = _snapshot(s, since)
        savepoint.rollback()
        s.expire_all()
        outcome = bulk.reclassify(s, again, later)
        sql = _snapshot(s, since)
    return python, sql, outcome


def _assert_same(python, sql):
    (p_records, p_history), (s_records, s_history) = python, sql
    assert p_records.keys() == s_records.keys() and p_records
    for rid, (computed, explain, version) in p_records.items():
        s_computed, s_explain, s_version = s_records[rid]
        assert s_computed == computed, f"record {rid}"
        assert _norm(s_explain) == _norm(explain), f"record {rid}"
        # the SQL path compares texts, so a record the Python path wrote (numbers and offsets spelled its
        # way) is rewritten once where Python, comparing values, leaves it: never the other way round
        assert s_version >= version, f"record {rid}"
    assert s_history == p_history


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_sample_data_same_in_sql_and_python(app, publish, name):
    publish(ROOT / "examples" / name / "bundle.yaml")
    _load_template(app, name)
    python, sql, outcome = _both_paths(app, days=40)
    assert outcome["sql"] == ["customer"] and outcome["python"] == {}
    newest = max(v for _c, _e, v in sql[0].values())
    assert 0 < outcome["reclassified"] == sum(v == newest for _c, _e, v in sql[0].values()) <= SAMPLE
    _assert_same(python, sql)
    assert sql[1], "forty days later some time-based classification changes"


@pytest.mark.parametrize("case", CASES["bundles"], ids=lambda c: c["name"])
def test_bundle_variants_same_in_sql_and_python(app, publish, case):
    source = CRM.read_text("utf-8")
    for old, new in case.get("replace", {}).items():
        assert old in source, old
        source = source.replace(old, new)
    publish(CRM)
    _load_records(app, CASES["records"])
    python, sql, outcome = _both_paths(app, case.get("days", 0), load_bundle_text(source))
    if "fallback" in case:
        assert outcome["sql"] == [] and list(outcome["python"]) == ["customer"]
        assert case["fallback"] in outcome["python"]["customer"]
    else:
        assert outcome["sql"] == ["customer"] and outcome["python"] == {}
    _assert_same(python, sql)
    assert {(h[1], h[2], h[3]) for h in sql[1]} >= {(k, codecs.dumps(old), codecs.dumps(new))
                                                   for k, old, new in case.get("changes", [])}


def test_publish_writes_history_and_reports_the_path(app, publish):
    from designer.db import transaction
    from designer.models import BundleVersion, ClassificationChange, Record
    publish(CRM)
    _load_records(app, CASES["records"])
    v2 = publish(CRM.read_text("utf-8").replace('annual_revenue >= 100000", value: B', 'annual_revenue >= 200000", value: B'))
    with app.app_context(), transaction(app) as s:
        report = s.get(BundleVersion, v2).report
        rows = s.scalars(select(ClassificationChange).where(ClassificationChange.bundle_version == v2)).all()
        versions = dict(s.execute(select(Record.title, Record.bundle_version).where(Record.parent_id.is_(None))).all())
        titles = {r.id: r.title for r in s.scalars(select(Record))}
    # the one that moves, and those whose stored texts (written by the Python path) the SQL path spells otherwise
    rewritten = sorted(t for t, v in versions.items() if v == v2)
    assert report["reclassified"] == len(rewritten) and "乙公司" in rewritten and set(versions.values()) <= {v2 - 1, v2}
    assert report["reclassified_in_sql"] == ["customer"] and report["reclassified_in_python"] == []
    (row,) = rows
    assert (titles[row.record_id], row.key, row.old, row.new, row.cause) == ("乙公司", "tier", "B", "C", "rules published")
    assert row.explain["default"] is True and row.explain["value"] == "C"


def test_publish_report_names_the_fallback(app, publish):
    from designer.db import transaction
    from designer.models import BundleVersion
    publish(CRM)
    _load_records(app, CASES["records"])
    v2 = publish(CRM.read_text("utf-8").replace("phone is not empty", "weekday(created_at) >= 1"))
    with app.app_context(), transaction(app) as s:
        report = s.get(BundleVersion, v2).report
    assert report["reclassified_in_sql"] == []
    assert report["reclassified_in_python"] == ["customer: SQL cannot express weekday() in SQL (column 1)"]
    assert report["reclassified"] == len(CASES["records"])


def test_a_publish_rewrites_only_the_records_it_changes(app, publish):
    """Records the new rules leave as they were keep their row: same version (a form opened before the
    publish still saves), same bundle_version (the rules that last changed them)."""
    from designer.db import transaction
    from designer.models import BundleVersion, Record
    publish(CRM)
    _load_records(app, CASES["records"])
    source = CRM.read_text("utf-8").replace('annual_revenue >= 100000", value: B', 'annual_revenue >= 200000", value: B')
    publish(source)
    with app.app_context(), transaction(app) as s:
        before = {r.id: (r.version, r.bundle_version, r.computed) for r in s.scalars(select(Record).where(Record.parent_id.is_(None)))}
    v3 = publish(source.replace('annual_revenue >= 200000", value: B', 'annual_revenue >= 140000", value: B'))
    with app.app_context(), transaction(app) as s:
        after = {r.id: (r.version, r.bundle_version, r.computed) for r in s.scalars(select(Record).where(Record.parent_id.is_(None)))}
        report = s.get(BundleVersion, v3).report
    moved = {rid for rid in before if before[rid][2] != after[rid][2]}
    rewritten = {rid for rid in before if before[rid][:2] != after[rid][:2]}
    assert moved and rewritten >= moved and len(rewritten) < len(before)
    for rid in rewritten:
        assert after[rid][:2] == (before[rid][0] + 1, v3)
    for rid in set(before) - rewritten:
        assert after[rid] == before[rid] and after[rid][1] < v3
    assert report["reclassified"] == len(rewritten)


@pytest.mark.parametrize("old, new, tier", [
    ("label: 年采购十万以上}", "label: 年采购十万元以上}", "B"),  # a rule's label: in the B records' explanations
    ("label: 客户等级", "label: 客户级别", None),  # the classification's own label: in no explanation
], ids=["rule label", "classification label"])
def test_a_publish_rewrites_the_records_whose_explanation_alone_changes(app, publish, old, new, tier):
    """No value moves, so no history row; a record whose explanation reads differently is rewritten all
    the same (the SQL path compares the stored explanation as well as the values), and only such a record."""
    from designer.db import transaction
    from designer.models import BundleVersion, ClassificationChange, Record
    publish(CRM)
    _load_records(app, CASES["records"])
    source = CRM.read_text("utf-8").replace("label: 标签", "label: 客户标签")  # once in SQL's spelling first
    publish(source)
    query = select(Record).where(Record.parent_id.is_(None))
    with app.app_context(), transaction(app) as s:
        before = {r.id: (r.version, r.bundle_version, r.computed) for r in s.scalars(query)}
    v3 = publish(source.replace(old, new))
    with app.app_context(), transaction(app) as s:
        after = {r.id: (r.version, r.bundle_version, r.computed) for r in s.scalars(query)}
        report = s.get(BundleVersion, v3).report
        moved = s.scalar(select(func.count()).select_from(ClassificationChange)
                         .where(ClassificationChange.bundle_version == v3))
    expected = {rid for rid, (_, _, computed) in before.items() if computed["tier"] == tier}
    assert (tier is None) == (not expected)
    assert {rid for rid in before if before[rid][:2] != after[rid][:2]} == expected
    assert all(after[rid] == (before[rid][0] + 1, v3, before[rid][2]) for rid in expected)
    assert moved == 0 and report["reclassified"] == len(expected) and report["reclassified_in_sql"] == ["customer"]


def _sql_path(app, days: int, helpers: int):
    """The SQL path's snapshot and outcome, reclassifying `days` after as_of under the bundle in force, with
    `helpers` processes; rolled back, so that each run starts from the same committed records."""
    from designer.bundles import bulk
    from designer.bundles.workspace import Current, current
    from designer.models import ClassificationChange
    later = datetime.fromisoformat(CASES["as_of"]) + timedelta(days=days)
    with app.app_context(), app.extensions["tierwise.sessions"]() as s:
        cur = current(s)
        since = s.scalar(select(func.max(ClassificationChange.id))) or 0
        outcome = bulk.reclassify(s, Current(cur.version + 1, cur.bundle), later, helpers=helpers)
        snapshot = _snapshot(s, since)
        s.rollback()
    return snapshot, outcome


@pytest.mark.parametrize("name", ["manufacturing", "saas"])
def test_helper_processes_write_what_the_publishs_connection_writes_alone(app, publish, monkeypatch, caplog,
                                                                          name):
    """Chunks computed by helper processes (forced on for a few records, seven records a chunk) leave every
    record and history row as the publish's connection computing them itself does."""
    from designer.bundles import bulk, parallel
    monkeypatch.setattr(parallel, "FEW", 0)
    monkeypatch.setattr(bulk, "HELPED_CHUNK", 7)
    brought = []  # the changed rows of each chunk the helpers computed
    insert_rows = bulk.insert_rows
    monkeypatch.setattr(bulk, "insert_rows", lambda s, table, rows: (brought.append(len(rows)),
                                                                       insert_rows(s, table, rows)))
    publish(ROOT / "examples" / name / "bundle.yaml")
    _load_template(app, name)
    publish(ROOT / "examples" / name / "bundle.yaml")  # the texts in the SQL path's spelling: only moves rewrite
    alone = _sql_path(app, days=40, helpers=0)
    (records, history), outcome = alone
    assert outcome["sql"] == ["customer"] and 0 < outcome["reclassified"] < SAMPLE and history
    assert not brought
    assert _sql_path(app, days=40, helpers=2) == alone
    assert len(brought) > SAMPLE // 14 and sum(brought) == outcome["reclassified"]
    assert "a helper failed" not in caplog.text


def test_a_failing_helper_leaves_its_chunks_to_the_publishs_connection(app, publish, monkeypatch, tmp_path, caplog):
    """Helpers that cannot read the records (here: pointed at an empty database) change nothing: the
    publish's connection computes every chunk they did not, and says so in the log."""
    from designer.bundles import bulk, parallel
    monkeypatch.setattr(parallel, "FEW", 0)
    monkeypatch.setattr(bulk, "HELPED_CHUNK", 7)
    publish(ROOT / "examples" / "manufacturing" / "bundle.yaml")
    _load_template(app, "manufacturing")
    alone = _sql_path(app, days=40, helpers=0)
    monkeypatch.setattr(parallel, "url_of", lambda session: f"sqlite:///{tmp_path / 'empty.db'}")
    assert _sql_path(app, days=40, helpers=2) == alone
    assert "a helper failed, this connection computes the remaining chunks" in caplog.text
    assert "OperationalError" in caplog.text  # no such table (SQLite's SQL), or a syntax error (PostgreSQL's)


def test_helpers_are_started_only_where_they_can_read_what_the_publish_reads(app):
    """No helpers for a SQLite database in memory (a new connection would see another, empty one), nor on
    PostgreSQL while the publish's transaction holds the records table exclusively (a helper would wait
    for the commit, which waits for the helper)."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from designer.bundles.parallel import url_of
    from designer.db import engine_of, make_engine
    memory = make_engine("sqlite://")
    with Session(memory) as s:
        assert url_of(s) is None
    memory.dispose()
    with app.app_context(), app.extensions["tierwise.sessions"]() as s:
        assert url_of(s) == engine_of(app).url.render_as_string(hide_password=False)
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("LOCK TABLE records IN ACCESS EXCLUSIVE MODE"))
            assert url_of(s) is None
        s.rollback()


@pytest.mark.parametrize("fails, first", [
    ({"submit": 0}, 0),  # no helper starts: the connection computes every chunk
    ({"submit": 3}, 1),  # handing over chunk 3 fails before chunk 1 is read: 1 and 2 are computed again
    ({"result": 0}, 0),
    ({"result": 2}, 2),
    ({"result": 6}, 6),
    ({}, 7),
], ids=["submit 0", "submit 3", "result 0", "result 2", "result 6", "none"])
def test_chunks_come_in_order_and_none_from_a_helpers_first_failure_on(fails, first):
    """Whether handing a chunk to a helper fails or computing it does, every chunk is answered once, in
    order: its rows until the failure, None from there on (the publish's connection computes those)."""
    from concurrent.futures import Future

    from designer.bundles.parallel import Helpers

    class Pool:
        submitted = 0

        def submit(self, _fn, _sql, p, _reduce):
            if self.submitted == fails.get("submit"):
                raise RuntimeError("cannot start a process")
            self.submitted += 1
            future = Future()
            if p["chunk"] == fails.get("result"):
                future.set_exception(RuntimeError("disk I/O error"))
            else:
                future.set_result([(p["chunk"],)])
            return future

        def shutdown(self, wait, cancel_futures):
            pass

    helpers = Helpers.__new__(Helpers)
    helpers.n, helpers.pool = 2, Pool()
    got = list(helpers.chunks("SELECT", [{"chunk": i} for i in range(7)]))
    assert got == [[(i,)] for i in range(first)] + [None] * (7 - first)
