"""Publishing: immutable versions, data kept across removed and retyped fields, reclassification with history."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine import BundleInvalid

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"


def _records(app):
    from designer.db import transaction
    from designer.models import ClassificationChange, Record
    with app.app_context(), transaction(app) as s:
        records = {r.title: (dict(r.data), dict(r.computed), r.bundle_version)
                   for r in s.scalars(select(Record).where(Record.object == "customer"))}
        history = [(h.key, h.old, h.new, h.cause) for h in s.scalars(select(ClassificationChange).order_by(ClassificationChange.id))]
    return records, history


def test_publish_keeps_data_reports_changes_and_reclassifies(app, publish, login):
    v1 = publish(BUNDLE)
    alice = login("alice")
    alice.post("/o/customer/new", data={"name": "甲公司", "annual_revenue": "150000", "stage": "成交"})
    v2_text = (BUNDLE.read_text("utf-8")
               .replace("      - {key: stage, type: select, label: 阶段, options: [潜在, 成交, 流失]}\n", "")
               .replace("visible_if: \"stage == '流失'\", required_if: \"stage == '流失'\"", "")
               .replace("{when: \"stage == '流失'\", value: 已流失, label: 阶段为流失}", "{when: \"false\", value: 已流失, label: 从不}")
               .replace("{key: region, type: region, label: 地区}", "{key: region, type: integer, label: 地区}")
               .replace("annual_revenue >= 100000\", value: B", "annual_revenue >= 200000\", value: B"))
    v2 = publish(v2_text)
    assert v2 == v1 + 1
    records, history = _records(app)
    data, computed, version = records["甲公司"]
    assert data["stage"] == "成交"  # a removed field's value is kept
    assert computed["tier"] == "C" and version == v2
    assert ("tier", "B", "C", "rules published") in history

    from designer.db import transaction
    from designer.models import BundleVersion
    with app.app_context(), transaction(app) as s:
        report = s.get(BundleVersion, v2).report
    assert report["fields_removed"] == ["customer.stage"]
    assert report["fields_retyped"] == ["customer.region: region -> integer"]
    assert report["reclassified"] == 1


def test_invalid_bundle_is_not_stored(app, publish):
    publish(BUNDLE)
    with pytest.raises(BundleInvalid):
        publish("bundle: broken\nobjects: {}\nclassifications: [{key: t, object: nope, rules: []}]\n")
    from designer.db import transaction
    from designer.models import BundleVersion
    with app.app_context(), transaction(app) as s:
        assert len(s.scalars(select(BundleVersion)).all()) == 1


def test_classification_indexes_follow_the_bundle(app, publish):
    from designer.bundles.indexes import existing
    from designer.db import transaction

    def names():
        with app.app_context(), transaction(app) as s:
            return existing(s, s.get_bind().dialect.name)
    publish(BUNDLE)
    assert {"ix_records_c_customer_tier_o", "ix_records_c_customer_score_o"} <= names()
    publish(BUNDLE.read_text("utf-8").replace("key: score", "key: points"))
    names = names()
    assert "ix_records_c_customer_score_o" not in names and "ix_records_c_customer_points_o" in names


def test_filter_by_tier_uses_the_index(app, publish):
    """With realistic statistics (2% tier A among 3,000 records), "tier A, newest first" is an index scan."""
    from sqlalchemy import text

    from designer.bundles.indexes import value_sql
    from designer.db import engine_of
    publish(BUNDLE)
    engine = engine_of(app)
    rows = [{"computed": '{"tier": "%s"}' % ("A" if i % 50 == 0 else "C"), "i": i} for i in range(3000)]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO records (object, data, computed, explain, created_at, updated_at, version) "
                          "VALUES ('customer', '{}', :computed, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"), rows)
        conn.execute(text("ANALYZE"))
    expr = value_sql(engine.dialect.name, "tier")
    query = f"SELECT id FROM records WHERE object = 'customer' AND {expr} = 'A' ORDER BY updated_at DESC LIMIT 50"
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # 3,000 rows fit a page or two: make scanning them look dear
            conn.execute(text("SET enable_seqscan = off"))
        plan = " ".join(str(r) for r in conn.execute(text(explain + query)))
    assert "ix_records_c_customer_tier_o" in plan, plan
