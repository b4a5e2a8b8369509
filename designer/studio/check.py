"""The expression editor's helpers: check as the admin types, complete names, show the value on a sample record.

Everything goes through the engine's own parser and type checker against the
draft bundle's scope, so the designer can never accept what publishing would
reject. Errors carry the column inside the expression (1-based) and the
engine's "did you mean" suggestion; `end_col` spans the offending token so
the editor can underline it.
"""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from engine import Bundle, ExpressionError
from engine.expr.codegen import compile_expression
from engine.expr.functions import FUNCTIONS
from engine.expr.lexer import KEYWORDS, tokenize
from engine.expr.parser import AGGREGATES, parse
from engine.expr.scope import BOOL, NULL
from engine.expr.typecheck import Checked, check as typecheck

#: Where an expression is written, and so which names it may read.
CONTEXTS = ("formula", "condition", "classification", "changed")

#: Signature and one line of help per function of the language (SPEC §3.5); a test checks every function has one.
FUNCTION_HELP = {
    "today": ("today()", _l("Today's date in the bundle's time zone.")),
    "now": ("now()", _l("The current date and time.")),
    "days_since": ("days_since(date)", _l("Whole days from the date until today.")),
    "days_until": ("days_until(date)", _l("Whole days from today until the date.")),
    "date": ("date(text)", _l("Reads a date written as text, such as '2026-03-01'.")),
    "year": ("year(date)", _l("The year of a date.")),
    "month": ("month(date)", _l("The month of a date (1 to 12).")),
    "day": ("day(date)", _l("The day of the month of a date.")),
    "weekday": ("weekday(date)", _l("The day of the week: 1 is Monday, 7 is Sunday.")),
    "add_months": ("add_months(date, months)", _l("The date the given number of months later (earlier if negative).")),
    "workdays_between": ("workdays_between(start, end)", _l("Working days between two dates, by the bundle's calendar.")),
    "add_workdays": ("add_workdays(date, days)", _l("The date the given number of working days later.")),
    "abs": ("abs(number)", _l("The number without its sign.")),
    "round": ("round(number, digits)", _l("Rounds half away from zero; digits defaults to 0.")),
    "len": ("len(text or list)", _l("How many characters a text has, or how many items a list.")),
    "lower": ("lower(text)", _l("The text in lower case.")),
    "upper": ("upper(text)", _l("The text in upper case.")),
    "trim": ("trim(text)", _l("The text without spaces at either end.")),
    "contains": ("contains(text, part)", _l("Whether the text contains the part.")),
    "startswith": ("startswith(text, prefix)", _l("Whether the text starts with the prefix.")),
    "endswith": ("endswith(text, suffix)", _l("Whether the text ends with the suffix.")),
    "min": ("min(a, b, ...) / min(child.field where ...)", _l("The smallest value, or the smallest over child records.")),
    "max": ("max(a, b, ...) / max(child.field where ...)", _l("The largest value, or the largest over child records.")),
    "coalesce": ("coalesce(a, b, ...)", _l("The first value that is not empty.")),
    "if": ("if(condition, then, else)", _l("One value when the condition holds, another when it does not.")),
    "count": ("count(child where ...)", _l("How many child records (that match the condition).")),
    "sum": ("sum(child.field where ...)", _l("The total of a child field over child records.")),
    "avg": ("avg(child.field where ...)", _l("The average of a child field over child records.")),
    "exists": ("exists(child where ...)", _l("Whether any child record matches the condition.")),
}


def scope_for(bundle: Bundle, object_key: str, context: str):
    """Names an expression written in `context` may read (formulas cannot read classifications)."""
    if context == "formula":
        return bundle.scope(object_key, classifications=False)
    return bundle.scope(object_key, old=(context == "changed"))


def check(bundle: Bundle, object_key: str, text: str, *, want: str = "any",
          context: str = "condition") -> tuple[dict, Checked | None]:
    """({"ok", "errors": [{"col", "end_col", "message"}], "type"}, the checked expression or None)."""
    try:
        checked = typecheck(text, parse(text), scope_for(bundle, object_key, context))
    except ExpressionError as exc:
        return {"ok": False, "errors": [_error(text, exc.column, exc.message)], "type": None}, None
    if want == "bool" and checked.type not in (BOOL, NULL):
        message = f"a condition must be true or false; this expression gives {checked.type}"
        error = {"col": 1, "end_col": len(text) + 1, "message": message}
        return {"ok": False, "errors": [error], "type": checked.type}, None
    return {"ok": True, "errors": [], "type": checked.type}, checked


def _error(text: str, column: int, message: str) -> dict:
    """The error with the span of the token at its column (one character when no token starts there)."""
    end = column + 1
    try:
        for token in tokenize(text):
            if token.col == column and token.kind != "end":
                end = column + max(1, len(token.text))
                break
    except ExpressionError:
        pass
    return {"col": column, "end_col": end, "message": message}


def sample_value(bundle: Bundle, object_key: str, checked: Checked, record: dict, as_of: datetime) -> object:
    """The checked expression's value on one coerced record (classified first, so it may read tiers)."""
    clf = bundle.classifier(object_key)
    result = clf.classify(record, as_of)
    today, now = clf.clock(as_of)
    full = result.record_with_values()
    fn = compile_expression(bundle.module, checked, "sample", old=bool(checked.old_reads))
    return fn(full, today, now, None, full)


def completions(bundle: Bundle, object_key: str, context: str) -> dict:
    """Field names (with labels and types), functions and keywords the editor offers in `context`."""
    scope = scope_for(bundle, object_key, context)
    fields = [{"key": name, "label": var.label or name, "type": var.type, "kind": var.kind}
              for name, var in scope.names.items()]
    for child_key, child in scope.children.items():
        obj = bundle.objects[child_key]
        fields.append({"key": child_key, "label": obj.label, "type": "child", "kind": "child"})
        fields += [{"key": f"{child_key}.{name}", "label": f"{obj.label} · {var.label or name}", "type": var.type,
                    "kind": "child_field"} for name, var in child.names.items()]
    if scope.parent is not None:
        fields += [{"key": f"parent.{name}", "label": var.label or name, "type": var.type, "kind": "parent"}
                   for name, var in scope.parent.items()]
    if scope.old is not None:
        fields += [{"key": f"old.{name}", "label": var.label or name, "type": var.type, "kind": "old"}
                   for name, var in scope.old.items()]
    functions = [{"name": name, "signature": FUNCTION_HELP[name][0], "doc": str(FUNCTION_HELP[name][1])}
                 for name in sorted(set(FUNCTIONS) | AGGREGATES)]
    return {"fields": fields, "functions": functions, "keywords": sorted(KEYWORDS)}
