"""Rules compile conditions in "truth mode" and "falsity mode" (see engine.expr.codegen).

Both must agree with three-valued value mode on every boolean expression:
truth(e) is (value(e) is True), falsity(e) is (value(e) is False). We check
that on every boolean conformance vector and on a table of extra cases that
exercise not/and/or/in/if over empty values.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from engine.evaluate import check_expression
from engine.expr.codegen import compile_expression


from .test_conformance import EXPR, expr_bundle

EXTRA = [
    "not (discount > 5) or vip", "not (discount > 5 and vip)", "not (discount > 5 or not vip)",
    "discount not in [1, 2]", "not (note in ['a'])", "note not in ['a']", "not ('x' in note)",
    "if(discount > 1, vip, not vip)", "if(vip, discount > 1, true)", "not if(vip, discount > 1, true)",
    "discount == 1", "not (discount == 1)", "discount != 1", "1 == discount", "note == name",
    "not (note != name)", "signed_on < last_contact_at", "not (last_contact_at >= signed_on)",
    "coalesce(discount, 0) == 0", "not exists(order where amount > parent.discount)",
    "count(order where amount > parent.discount) == 0", "not (vip and note is empty)",
    "(discount > 1) == (discount > 2)", "not (tags is empty)", "'VIP' in tags or not ('重点' in tags)",
]


def boolean_cases():
    """Every vector and extra case whose expression is a condition."""
    candidates = [(c["expr"], c.get("calendar", "none")) for c in EXPR["cases"] if "error" not in c]
    for text, calendar in candidates + [(t, "none") for t in EXTRA]:
        if check_expression(expr_bundle(calendar), "customer", text).type == "bool":
            yield text, calendar


@pytest.mark.parametrize("text,calendar", list(boolean_cases()), ids=lambda v: v if v not in ("none", "cn") else "")
def test_truth_and_falsity_agree_with_value(text, calendar):
    bundle = expr_bundle(calendar)
    clf = bundle.classifier("customer")
    as_of = datetime.fromisoformat(EXPR["as_of"])
    today, now = clf.clock(as_of)
    for record in _records(clf):
        full = clf.classify(record, as_of).record_with_values()
        value = compile_expression(bundle.module, check_expression(bundle, "customer", text), "v")(full, today, now)
        truth = compile_expression(bundle.module, check_expression(bundle, "customer", text), "t", mode="truth")
        falsity = compile_expression(bundle.module, check_expression(bundle, "customer", text), "f", mode="falsity")
        assert truth(full, today, now) is (value is True)
        assert falsity(full, today, now) is (value is False)


def _records(clf):
    """The vectors' record, one with everything empty, and one with discount set."""
    base = {**EXPR["record"], **EXPR["children"]}
    yield clf.coerce(base)
    yield clf.coerce({})
    yield clf.coerce({**base, "discount": 1, "vip": False, "note": "a", "tags": []})
