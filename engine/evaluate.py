"""Evaluating one expression against one record: what `tierwise eval`, the rule tester and the
designer's live preview need.

The record is classified first, so an expression may read formulas and
classifications as well as fields and children.
"""
from __future__ import annotations

from datetime import datetime

from .bundle import Bundle
from .expr.codegen import compile_expression
from .expr.parser import parse
from .expr.typecheck import Checked, check


def check_expression(bundle: Bundle, object_key: str, text: str) -> Checked:
    """Parse and type-check `text` in the scope of `object_key` (all its classifications visible)."""
    return check(text, parse(text), bundle.scope(object_key))


def evaluate(bundle: Bundle, object_key: str, text: str, record: dict, as_of: datetime, *,
             parent: dict | None = None) -> tuple[str, object]:
    """(type, value) of expression `text` on a coerced `record`; raises ExpressionError if rejected."""
    checked = check_expression(bundle, object_key, text)
    fn = compile_expression(bundle.module, checked, "expression", parent=parent is not None)
    clf = bundle.classifier(object_key)
    result = clf.classify(record, as_of, parent)
    today, now = clf.clock(as_of)
    return checked.type, fn(result.record_with_values(), today, now, parent)
