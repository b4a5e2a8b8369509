"""Every conformance vector of SPEC.md, one test each, with the vector's text as its id."""
from __future__ import annotations

from datetime import datetime

import pytest

from engine import BundleInvalid, ExpressionError, load_bundle, load_bundle_text
from engine.evaluate import evaluate

from .conformance_support import HERE, expression_bundle, load, same

EXPR = load("expressions.yaml")
RETAIL = load("retail.cases.yaml")
ERRORS = load("bundle_errors.yaml")
_BUNDLES: dict = {}


def expr_bundle(calendar: str):
    if calendar not in _BUNDLES:
        _BUNDLES[calendar] = load_bundle_text(expression_bundle(EXPR, calendar), "conformance.yaml")
    return _BUNDLES[calendar]


def expr_id(case):
    return case["expr"] + (f" [{case['calendar']}]" if "calendar" in case else "")


@pytest.mark.parametrize("case", EXPR["cases"], ids=expr_id)
def test_expression(case):
    bundle = expr_bundle(case.get("calendar", EXPR["calendar"]))
    clf = bundle.classifier("customer")
    record = clf.coerce({**EXPR["record"], **EXPR["children"]})
    as_of = datetime.fromisoformat(EXPR["as_of"])
    if "error" in case:
        with pytest.raises(ExpressionError) as info:
            evaluate(bundle, "customer", case["expr"], record, as_of)
        assert info.value.kind == case["error"], info.value.message
        return
    type_, value = evaluate(bundle, "customer", case["expr"], record, as_of)
    assert same(case["result"], value, case.get("type")), f"got {value!r} ({type_})"
    if case.get("type"):
        assert type_ == case["type"]


@pytest.fixture(scope="module")
def retail():
    return load_bundle(HERE / RETAIL["bundle"])


@pytest.mark.parametrize("case", RETAIL["records"], ids=lambda c: c["name"])
def test_retail_record(retail, case):
    clf = retail.classifier("customer")
    raw = {k: v for k, v in case.items() if k != "expect"}
    result = clf.classify(clf.coerce(raw), datetime.fromisoformat(RETAIL["as_of"]))
    values = result.values
    for key, want in case["expect"].items():
        assert same(want, values[key], None), f"{key}: got {values[key]!r}, want {want!r}"
    explanation = result.explain()
    assert set(explanation) == {"recent", "rfm", "tags", "score"}


@pytest.mark.parametrize("case", ERRORS["cases"], ids=lambda c: c["name"])
def test_bundle_error(case):
    with pytest.raises(BundleInvalid) as info:
        load_bundle_text(case["source"], "case.yaml")
    problems = info.value.problems
    for want in case["errors"]:
        assert any(_matches(p, want) for p in problems), f"no problem matches {want}; got:\n" + "\n".join(map(str, problems))


def _matches(problem, want) -> bool:
    if problem.line not in (want.get("lines") or [want["line"]]) or problem.file != "case.yaml":
        return False
    if "path" in want and problem.path != want["path"]:
        return False
    if "path_prefix" in want and not problem.path.startswith(want["path_prefix"]):
        return False
    return want.get("kind") is None or problem.kind == want["kind"]
