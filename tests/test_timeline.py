"""engine.timeline: the next instant a record's computed values change with time alone.

Checked against brute force: for records of every template, the values are
evaluated at every local midnight ahead; the first midnight at which anything
differs must be exactly what the timeline says, and nothing may differ before.
"""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from engine import load_bundle, load_bundle_text

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime.fromisoformat("2026-11-01T09:00:00+08:00")


def _first_change_by_brute_force(clf, record, as_of, days):
    values = clf.classify(record, as_of).values
    local = as_of.astimezone(clf.bundle.tz).date()
    for n in range(1, days + 1):
        instant = datetime.combine(local + timedelta(days=n), time(0), tzinfo=clf.bundle.tz)
        if clf.classify(record, instant).values != values:
            return instant
    return None


@pytest.mark.parametrize("template", ["manufacturing", "education", "medical", "retail", "saas"])
def test_timeline_matches_brute_force_on_templates(template):
    bundle = load_bundle(ROOT / "examples" / template / "bundle.yaml")
    clf = bundle.classifier("customer")
    assert clf.timeline.depends_on_time
    lines = (ROOT / "examples" / template / "customers.jsonl").read_text("utf-8").splitlines()[:60]
    for line in lines:
        record = clf.coerce(json.loads(line), problems=[])
        expected = _first_change_by_brute_force(clf, record, AS_OF, 400)
        got = clf.timeline.next_change(record, AS_OF)
        if expected is None:
            assert got is None or got > AS_OF + timedelta(days=400)
        else:
            assert got == expected, (template, record.get("name"), got, expected)


SHAPES = """
bundle: shapes
timezone: Asia/Shanghai
objects:
  customer:
    fields:
      - {key: last_order_at, type: date}
      - {key: last_contact_at, type: datetime}
      - {key: birthday, type: date}
      - {key: contract_end, type: date}
      - {key: orders, type: integer, formula: "count(order where date > today() - 30d)"}
  order:
    parent: customer
    fields:
      - {key: date, type: date}
classifications:
  - {key: recent, object: customer, rules: [{when: "days_since(last_order_at) <= 90", value: 是}], default: 否}
  - {key: stale, object: customer, rules: [{when: "now() - last_contact_at > 12h", value: 是}], default: 否}
  - {key: birthday_month, object: customer, rules: [{when: "month(birthday) == month(today())", value: 是}], default: 否}
  - {key: renewing, object: customer, rules: [{when: "days_until(contract_end) <= 30", value: 是}], default: 否}
"""


@pytest.fixture(scope="module")
def shapes():
    return load_bundle_text(SHAPES, "shapes.yaml").classifier("customer")


@pytest.mark.parametrize("record,expected", [
    ({"last_order_at": "2026-10-01"}, "2026-12-31T00:00:00+08:00"),  # 2026-10-01 + 91 days
    ({"last_contact_at": "2026-11-01T08:00:00+08:00"}, "2026-11-01T20:00:01+08:00"),  # 12 h later, just past
    ({"birthday": "1990-03-05"}, "2027-03-01T00:00:00+08:00"),  # the first of the birthday's month
    ({"contract_end": "2027-01-15"}, "2026-12-16T00:00:00+08:00"),  # 30 days before
    ({"order": [{"date": "2026-10-20"}]}, "2026-11-19T00:00:00+08:00"),  # the order leaves the 30-day window
], ids=["days_since", "now() - x > 12h", "month(today())", "days_until", "aggregate window"])
def test_shapes(shapes, record, expected):
    typed = shapes.coerce(record, problems=[])
    got = shapes.timeline.next_change(typed, AS_OF)
    assert got == datetime.fromisoformat(expected)


def test_a_bundle_without_the_clock_never_wakes():
    bundle = load_bundle_text("bundle: still\nobjects:\n  c:\n    fields: [{key: n, type: number}]\n"
                              "classifications: [{key: big, object: c, rules: [{when: 'n > 5', value: 是}]}]\n")
    clf = bundle.classifier("c")
    assert not clf.timeline.depends_on_time and clf.timeline.next_change(clf.coerce({"n": 1}), AS_OF) is None
