"""Bundle loading paths and classification behaviour beyond the conformance vectors."""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import yaml

from engine import load_bundle, load_bundle_text
from engine.source import load_text

from .conformance_support import HERE, load

AS_OF = datetime(2026, 3, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
RETAIL_CASES = load("retail.cases.yaml")


def _classify_all(bundle):
    clf = bundle.classifier("customer")
    out = []
    for case in RETAIL_CASES["records"]:
        raw = {k: v for k, v in case.items() if k != "expect"}
        out.append(clf.classify(clf.coerce(raw), AS_OF).values)
    return out


def test_json_bundle_classifies_like_yaml(tmp_path):
    data = yaml.safe_load((HERE / "retail.bundle.yaml").read_text("utf-8"))
    path = tmp_path / "retail.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    assert _classify_all(load_bundle(path)) == _classify_all(load_bundle(HERE / "retail.bundle.yaml"))


def test_directory_bundle_merges_files(tmp_path):
    text = (HERE / "retail.bundle.yaml").read_text("utf-8")
    head, rest = text.split("classifications:", 1)
    (tmp_path / "01-objects.yaml").write_text(head, encoding="utf-8")
    (tmp_path / "02-rules.yaml").write_text("classifications:" + rest, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not part of the bundle")
    assert _classify_all(load_bundle(tmp_path)) == _classify_all(load_bundle(HERE / "retail.bundle.yaml"))


def test_problems_in_a_directory_name_their_file(tmp_path):
    (tmp_path / "a.yaml").write_text("bundle: dd\nobjects:\n  customer:\n    fields: [{key: n, type: text}]\n")
    (tmp_path / "b.yaml").write_text("classifications:\n  - {key: t, object: customer, rules: [{when: 'nn > 1', value: A}]}\n")
    with pytest.raises(Exception) as info:
        load_bundle(tmp_path)
    problem = info.value.problems[0]
    assert problem.file.endswith("b.yaml") and problem.line == 2 and "did you mean `n`" in problem.message


@pytest.mark.parametrize("text,value", [
    ("x: on", "on"), ("x: yes", "yes"), ("x: 2026-03-01", "2026-03-01"), ("x: 1e6", Decimal("1e6")),
    ("x: 0.1", Decimal("0.1")), ("x: 1_000", 1000), ("x: true", True), ("x: ~", None), ("x: '12'", "12"),
    ("x: 0x1F", 31), ("x: .5", Decimal("0.5")), ("x: 12:30", "12:30"),
])
def test_yaml_scalars_follow_yaml_1_2(text, value):
    doc, problems = load_text(text + "\n", "s.yaml")
    assert not problems and doc.data["x"] == value and type(doc.data["x"]) is type(value)


def test_on_is_a_key():
    doc, _ = load_text("on: changed\n", "s.yaml")
    assert doc.data == {"on": "changed"}


CHILDREN = """
bundle: kids
objects:
  customer:
    fields:
      - {key: name, type: text}
      - {key: target, type: money}
      - {key: total, type: money, formula: "sum(order.net)"}
      - {key: big_orders, type: integer, formula: "count(order where net > parent.total / 2)"}
      - {key: avg_net, type: money, formula: "avg(order.net)"}
  order:
    parent: customer
    fields:
      - {key: qty, type: integer}
      - {key: price, type: money}
      - {key: net, type: money, formula: "qty * price"}
      - {key: over_target, type: boolean, formula: "net > parent.target"}
classifications:
  - key: size
    object: order
    rules: [{when: "net >= 1000", value: 大单}]
    default: 小单
  - key: level
    object: customer
    values: [1, 2, 3]
    rules:
      - {when: "total >= 3000", value: 1, label: 大客户}
      - {when: "count(order where size == '大单') >= 1", value: 2}
    default: 3
  - key: flags
    object: customer
    hit: collect
    rules:
      - {when: "exists(order where over_target)", value: 超目标}
      - {when: "big_orders >= 1", value: 有大单}
      - {when: "exists(order where over_target)", value: 超目标}
    default: [普通]
  - key: points
    object: customer
    hit: sum
    base: 10
    rules:
      - {when: "level == 1", points: 5}
      - {when: "'超目标' in flags", points: -2.5}
"""


@pytest.fixture(scope="module")
def kids():
    return load_bundle_text(CHILDREN, "kids.yaml").classifier("customer")


@pytest.mark.parametrize("orders,target,want", [
    ([], None, {"total": 0, "big_orders": 0, "avg_net": None, "level": 3, "flags": ["普通"], "points": 10}),
    ([(2, 600), (1, 100)], 500, {"total": 1300, "big_orders": 1, "avg_net": 650, "level": 2, "flags": ["超目标", "有大单"],
                                 "points": Decimal("7.5")}),
    ([(10, 300), (1, 5)], None, {"total": 3005, "big_orders": 1, "avg_net": Decimal("1502.50"), "level": 1,
                                 "flags": ["有大单"], "points": 15}),
    ([(None, 300)], 1, {"total": 0, "big_orders": 0, "avg_net": None, "level": 3, "flags": ["普通"], "points": 10}),
], ids=["no orders", "child formula and classification", "first rule", "empty child values"])
def test_child_formulas_classifications_and_hit_policies(kids, orders, target, want):
    record = kids.coerce({"name": "x", "target": target, "order": [{"qty": q, "price": p} for q, p in orders]})
    result = kids.classify(record, AS_OF)
    got = result.values
    for key, value in want.items():
        assert got[key] == value, f"{key}: {got[key]!r} != {value!r}"
    if orders and orders[0][0] is not None:
        assert record["order"][0]["size"] in ("大单", "小单")


def test_explanation_names_rules_and_reads(kids):
    record = kids.coerce({"name": "x", "target": 500, "order": [{"qty": 2, "price": 600}, {"qty": 1, "price": 100}]})
    why = kids.classify(record, AS_OF).explain()
    assert why["level"]["value"] == 2 and why["level"]["default"] is False
    assert why["level"]["rules"] == [{"index": 1, "label": None, "when": "count(order where size == '大单') >= 1",
                                      "read": {"count(order where size == '大单')": 1}}]
    assert why["level"]["read"] == {"total": Decimal("1300.00"), "count(order where size == '大单')": 1}
    assert [r["index"] for r in why["flags"]["rules"]] == [0, 1, 2]
    assert why["points"]["rules"] == [{"index": 1, "label": None, "when": "'超目标' in flags",
                                       "read": {"flags": ["超目标", "有大单"]}, "points": Decimal("-2.5")}]


def test_default_explained_with_every_rule_read(kids):
    why = kids.classify(kids.coerce({"name": "x"}), AS_OF).explain()
    assert why["level"]["default"] is True and why["level"]["rules"] == []
    assert set(why["level"]["read"]) == {"total", "count(order where size == '大单')"}


def test_generated_code_fuses_loops_and_hoists(kids):
    from engine.bundle import load_bundle as _lb
    clf = _lb(HERE / "retail.bundle.yaml").classifier("customer")
    source = clf._run.__tierwise_source__
    assert source.count("for c in ch_order") == 1  # four aggregates, one pass
    assert "h" in source.split("for c in ch_order")[0]  # today() - 365d computed before the loop
