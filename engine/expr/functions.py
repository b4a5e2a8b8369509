"""Functions of the expression language (SPEC §3.5), registered by name.

Each function knows how to type its arguments and how to compile a call.
Strict functions (the default) return empty when any argument is empty; the
compiler adds those checks, so `gen` only ever sees non-empty values.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from ..errors import ExpressionError
from .scope import BOOL, DATE, DATETIME, DURATION, NULL, NUMBER, TEXT

FUNCTIONS: dict[str, Function] = {}
_TIMES = (DATE, DATETIME)


@dataclass(frozen=True)
class Function:
    name: str
    #: (node, [(type, nullable)], checked) -> (result type, result may be empty)
    check: Callable
    #: (codes, types) -> Python code; codes are non-empty argument values (strict functions)
    gen: Callable
    strict: bool = True
    #: reads today()/now() (so results change with time alone)
    clock: bool = False


def register(fn: Function) -> Function:
    if fn.name in FUNCTIONS:
        raise RuntimeError(f"function `{fn.name}` registered twice")
    FUNCTIONS[fn.name] = fn
    return fn


def _arity(node, args, low, high=None):
    high = low if high is None else high
    if not low <= len(args) <= high:
        want = f"{low}" if low == high else (f"{low} or more" if high == 99 else f"{low} to {high}")
        raise ExpressionError("type", node.col, f"{node.func}() takes {want} argument{'s' if high != 1 else ''}, got {len(args)}")


def _want(node, i, got, allowed, what):
    if got not in allowed:
        raise ExpressionError("type", node.args[i].col, f"{node.func}() needs {what} here, not {got}")


def typed(name, params, result, gen, *, may_be_empty=False, clock=False, optional=0):
    """A strict function whose parameters accept the listed types."""
    def check(node, args, checked):
        _arity(node, args, len(params) - optional, len(params))
        for i, (t, _) in enumerate(args):
            allowed, what = params[i]
            _want(node, i, t, allowed, what)
        out = result(args) if callable(result) else result
        return out, may_be_empty or any(n for _, n in args)
    return register(Function(name, check, gen, clock=clock))


_DATEISH = ((DATE, DATETIME), "a date or datetime")
_TEXT = ((TEXT,), "text")
_NUM = ((NUMBER,), "a number")


def _local(code, t):
    return f"local_date({code}, TZ)" if t == DATETIME else code


typed("today", [], DATE, lambda c, t: "today", clock=True)
typed("now", [], DATETIME, lambda c, t: "now", clock=True)
typed("days_since", [_DATEISH], NUMBER, lambda c, t: f"(today - {_local(c[0], t[0])}).days", clock=True)
typed("days_until", [_DATEISH], NUMBER, lambda c, t: f"({_local(c[0], t[0])} - today).days", clock=True)
typed("date", [_TEXT], DATE, lambda c, t: f"parse_date({c[0]})", may_be_empty=True)
typed("year", [_DATEISH], NUMBER, lambda c, t: f"{_local(c[0], t[0])}.year")
typed("month", [_DATEISH], NUMBER, lambda c, t: f"{_local(c[0], t[0])}.month")
typed("day", [_DATEISH], NUMBER, lambda c, t: f"{_local(c[0], t[0])}.day")
typed("weekday", [_DATEISH], NUMBER, lambda c, t: f"{_local(c[0], t[0])}.isoweekday()")
typed("add_months", [_DATEISH, _NUM], lambda a: a[0][0], lambda c, t: f"add_months({c[0]}, {c[1]}, TZ)", may_be_empty=True)
typed("workdays_between", [_DATEISH, _DATEISH], NUMBER,
      lambda c, t: f"CAL.workdays_between({_local(c[0], t[0])}, {_local(c[1], t[1])})")
typed("add_workdays", [_DATEISH, _NUM], DATE, lambda c, t: f"CAL.add_workdays({_local(c[0], t[0])}, {c[1]})")
typed("abs", [((NUMBER, DURATION), "a number or duration")], lambda a: a[0][0], lambda c, t: f"abs({c[0]})")
typed("round", [_NUM, _NUM], NUMBER, lambda c, t: f"round_half_away({', '.join(c)})", optional=1)
typed("len", [((TEXT, "list:text", "list:number", "list:any"), "a text or a list")], NUMBER, lambda c, t: f"len({c[0]})")
typed("lower", [_TEXT], TEXT, lambda c, t: f"{c[0]}.lower()")
typed("upper", [_TEXT], TEXT, lambda c, t: f"{c[0]}.upper()")
typed("trim", [_TEXT], TEXT, lambda c, t: f"to_text({c[0]}.strip())", may_be_empty=True)
typed("contains", [_TEXT, _TEXT], BOOL, lambda c, t: f"({c[1]} in {c[0]})")
typed("startswith", [_TEXT, _TEXT], BOOL, lambda c, t: f"{c[0]}.startswith({c[1]})")
typed("endswith", [_TEXT, _TEXT], BOOL, lambda c, t: f"{c[0]}.endswith({c[1]})")


def _same_types(node, args, what):
    types = {t for t, _ in args if t != NULL}
    if len(types - {DATE, DATETIME}) > 1 or (types & {DATE, DATETIME} and types - {DATE, DATETIME}):
        raise ExpressionError("type", node.col, f"{node.func}() needs arguments of one type, got {', '.join(sorted(types))}")
    if not types:
        return NULL
    if types == {DATE, DATETIME}:
        raise ExpressionError("type", node.col, f"{node.func}() mixes dates and datetimes; convert with date() or compare separately")
    t = types.pop()
    if what and t not in what:
        raise ExpressionError("type", node.col, f"{node.func}() cannot take {t} values")
    return t


def _minmax_check(node, args, checked):
    _arity(node, args, 1, 99)
    t = _same_types(node, args, (NUMBER, TEXT, DATE, DATETIME, DURATION))
    return t, all(n for _, n in args)


register(Function("min", _minmax_check, lambda c, t: f"least({', '.join(c)})", strict=False))
register(Function("max", _minmax_check, lambda c, t: f"greatest({', '.join(c)})", strict=False))


def _coalesce_check(node, args, checked):
    _arity(node, args, 1, 99)
    return _same_types(node, args, None), all(n for _, n in args)


register(Function("coalesce", _coalesce_check, lambda c, t: f"coalesce({', '.join(c)})", strict=False))


def _if_check(node, args, checked):
    _arity(node, args, 3)
    if args[0][0] != BOOL:
        raise ExpressionError("type", node.args[0].col, f"if() needs a condition (true or false) first, not {args[0][0]}")
    t = _same_types(node, args[1:], None)
    return t, args[1][1] or args[2][1]


# if() is compiled by the code generator itself: its condition is a truth test.
register(Function("if", _if_check, None, strict=False))
