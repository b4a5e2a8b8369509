"""Field coercion and record validation, table-driven from tests/data/field_values.yaml."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from engine import RecordInvalid, load_bundle_text
from engine.fields import TYPES, Context, FieldValueError

from .conformance_support import _Loader

CASES = yaml.load((Path(__file__).parent / "data" / "field_values.yaml").read_text("utf-8"), Loader=_Loader)["cases"]
CTX = Context(ZoneInfo("Asia/Shanghai"))


def case_id(case):
    return f"{case['field']['type']}:{case['raw']!r}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_coerce(case):
    field = dict(case["field"])
    ftype = TYPES[field["type"]]
    if "error" in case:
        with pytest.raises(FieldValueError) as info:
            ftype.coerce(case["raw"], field, CTX)
        assert info.value.code == case["error"]
        return
    stored = ftype.coerce(case["raw"], field, CTX)
    want = case["stored"]
    if isinstance(stored, datetime):
        assert stored.isoformat() == want
    elif isinstance(stored, date):
        assert stored.isoformat() == want
    elif isinstance(stored, bool) or isinstance(want, bool):
        assert stored is want
    elif isinstance(stored, (int, Decimal)):
        assert Decimal(stored) == Decimal(str(want))
    else:
        assert stored == want


FORM = """
bundle: form
locale: zh-CN
objects:
  customer:
    fields:
      - {key: name, type: text, required: true}
      - {key: stage, type: select, options: [潜在, 成交, 流失]}
      - {key: lost_reason, type: textarea, visible_if: "stage == '流失'", required_if: "stage == '流失'"}
      - {key: budget, type: money, visible_if: "stage != '流失'", min: 0}
      - {key: email, type: email, required_if: "tier == 'A'"}
      - {key: revenue, type: money}
      - {key: orders_total, type: money, formula: "sum(order.amount)"}
  order:
    parent: customer
    fields:
      - {key: amount, type: money, required: true}
classifications:
  - key: tier
    object: customer
    rules:
      - {when: "revenue >= 1000000", value: A}
    default: B
"""


@pytest.fixture(scope="module")
def form():
    return load_bundle_text(FORM, "form.yaml").classifier("customer")


AS_OF = datetime(2026, 3, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize("raw,problems", [
    ({"name": "甲"}, {}),
    ({}, {"name": "必填"}),
    ({"name": "甲", "stage": "流失"}, {"lost_reason": "必填"}),
    ({"name": "甲", "stage": "流失", "lost_reason": "价格"}, {}),
    ({"name": "甲", "stage": "成交", "budget": "abc"}, {"budget": "应为数字"}),
    ({"name": "甲", "stage": "流失", "lost_reason": "价格", "budget": "abc"}, {}),  # hidden: not validated
    ({"name": "甲", "revenue": 2000000}, {"email": "必填"}),
    ({"name": "甲", "revenue": 2000000, "email": "a@b.cn"}, {}),
    ({"name": "  ", "stage": "其他", "order": [{"amount": "x"}, {}]},
     {"name": "必填", "stage": "不是可选项", "order[0].amount": "应为数字", "order[1].amount": "必填"}),
    ({"name": "甲", "order": "not a list"}, {"order": "子记录"}),
], ids=["ok", "required", "required_if", "required_if met", "bad money", "hidden skipped",
        "required_if on a classification", "met", "every error at once", "children not a list"])
def test_validate(form, raw, problems):
    if not problems:
        record, result = form.validate(raw, AS_OF)
        assert result.values["tier"] in ("A", "B")
        return
    with pytest.raises(RecordInvalid) as info:
        form.validate(raw, AS_OF)
    got = {p.path: p.message for p in info.value.problems}
    for path, fragment in problems.items():
        assert path in got and fragment in got[path], got
    assert set(got) == set(problems)


def test_formula_ignores_input_and_is_normalised(form):
    record, result = form.validate({"name": "甲", "orders_total": 5, "order": [{"amount": "1.005"}, {"amount": 2}]}, AS_OF)
    assert result.values["orders_total"] == Decimal("3.01") and str(result.values["orders_total"]) == "3.01"


def test_messages_follow_bundle_locale():
    bundle = load_bundle_text(FORM.replace("locale: zh-CN", "locale: en"), "form.yaml")
    with pytest.raises(RecordInvalid) as info:
        bundle.classifier("customer").validate({}, AS_OF)
    assert info.value.problems[0].message == "is required"
