"""When will a record's computed values change with time alone? (SPEC §4: values that read `today()` or
`now()` stay current without anyone saving the record.)

Rather than re-evaluating every record every night, the engine works out, per
record, the next instant at which any formula or classification can change,
and the scheduler wakes the record exactly then. `days_since(x) <= 90` flips
at x + 91 days; `date > today() - 365d` inside an aggregate flips for each
child at its date + 365 days; `now() - last_contact_at > 12h` at
last_contact_at + 12h.

How: every comparison with a time-dependent side of a known shape
(`today() ± d`, `now() ± d`, `days_since(e)`, `days_until(e)`, `today() - e`)
against a time-independent side gives crossing instants, computed from the
record's (and each child's) values. Any other use of the clock falls back to
a coarser wake-up that is still correct: the next local midnight, or the
first day of the next month/year under `month()`/`year()`. The candidates are
then checked by evaluating the compiled classifier at each, in order; the
first at which any computed value differs is the answer. Between candidates
nothing can change, so the answer is exact, not an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from .expr import ast
from .expr.codegen import Body, ExprGen, emit_aggregates, record_env
from .expr.scope import DATE, DATETIME, NUMBER
from .expr.typecheck import Checked, const_duration

_DAY = timedelta(days=1)
_TICK = timedelta(seconds=1)
#: How far ahead candidates are considered; a record with nothing sooner is looked at again then.
HORIZON = timedelta(days=800)


@dataclass
class _Crossing:
    """A comparison `T(t) op K` whose time side has a known shape."""

    kind: str  # 'date' (today() + d), 'instant' (now() + d), 'since' (days_since(e)), 'until', 'minus' (today() - e)
    offset: timedelta | None  # d
    e: object  # compiled function for e (or None)
    k: object  # compiled function for K
    child: str | None  # child object key when inside an aggregate's `where`


class Timeline:
    """Time analysis of one object's formulas and classifications, compiled once per classifier."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.bundle = classifier.bundle
        self.crossings: list[_Crossing] = []
        #: coarse wake-ups for uses of the clock of no known shape: 'day', 'month', 'year'
        self.coarse: set[str] = set()
        checked = [f.formula for f in classifier.formulas] + [r.when for c in classifier.classifications for r in c.rules]
        for chk in checked:
            self._scan(chk)
        self.depends_on_time = bool(self.crossings or self.coarse) or any(
            child.timeline.depends_on_time for child in classifier.children.values())

    # -- analysis -------------------------------------------------------------
    def _scan(self, chk: Checked):
        covered: set[int] = set()
        for node, child in _walk_with_child(chk.tree, None):
            if isinstance(node, ast.Binary) and node.op in ("==", "!=", "<", "<=", ">", ">="):
                self._comparison(chk, node, child, covered)
        for node, _child in _walk_with_child(chk.tree, None):
            if isinstance(node, ast.Call) and node.func in ("month", "year") and node.args and _clock_only(node.args[0]):
                self.coarse.add(node.func)  # month(today()) changes on the first of a month
                covered.update(id(n) for n in ast.walk(node.args[0]))
        for node, _child in _walk_with_child(chk.tree, None):
            if isinstance(node, ast.Call) and node.func in _CLOCK and id(node) not in covered:
                self.coarse.add("day")  # a use of the clock of no known shape: look again every midnight

    def _comparison(self, chk, node, child, covered):
        left_t, right_t = _timed(node.left), _timed(node.right)
        if left_t == right_t:
            return
        timed, other = (node.left, node.right) if left_t else (node.right, node.left)
        shape = _shape(chk, timed)
        if shape is None:
            return
        kind, offset, e_node = shape
        e = self._compile(chk, e_node) if e_node is not None else None
        self.crossings.append(_Crossing(kind, offset, e, self._compile(chk, other), child))
        covered.update(id(n) for n in ast.walk(timed))

    def _compile(self, chk: Checked, node):
        """A function (row, today, now, parent) giving `node`'s value: row is the record, or the child
        inside an aggregate's `where` (then `parent.` names read the record)."""
        module = self.bundle.module
        body = Body(module)
        chk.agg_names = {}
        emit_aggregates(body, [(chk, n) for n in chk.aggregates if _inside(n, node)], record_env("r"), "r")
        code = ExprGen(body, chk, record_env("r"), record_env("p")).value(node)
        body.emit(f"return {code}")
        return module.compile("def part(r, today, now, p=None):\n" + "\n".join(body.lines) + "\n", "part")

    # -- per record ----------------------------------------------------------
    def candidates(self, full: dict, as_of: datetime) -> list[datetime]:
        """Instants after `as_of` at which a computed value may change, sorted (may include false alarms)."""
        tz = self.bundle.tz
        today, now = self.classifier.clock(as_of)
        out: set[datetime] = set()
        for x in self.crossings:
            rows = [full] if x.child is None else list(full.get(x.child) or ())
            parent = None if x.child is None else full
            for row in rows:
                try:
                    k = x.k(row, today, now, parent)
                    e = x.e(row, today, now, parent) if x.e is not None else None
                except (TypeError, ValueError, OverflowError, ArithmeticError):
                    continue
                out.update(_instants(x, k, e, tz))
        if self.coarse:
            out.update(_coarse(self.coarse, as_of.astimezone(tz).date(), tz))
        for key, child in self.classifier.children.items():
            if child.timeline.depends_on_time:
                for row in full.get(key) or ():
                    out.update(child.timeline.candidates(row, as_of))
        horizon = as_of + HORIZON
        return sorted(t for t in out if as_of < t <= horizon)

    def next_change(self, record: dict, as_of: datetime) -> datetime | None:
        """The first instant after `as_of` at which any formula or classification of the (coerced) record
        changes value, or None if none does within HORIZON."""
        if not self.depends_on_time:
            return None
        clf = self.classifier
        current = clf.classify(record, as_of)
        values = current.values
        full = current.record_with_values()
        for instant in self.candidates(full, as_of):
            if clf.classify(record, instant).values != values:
                return instant
        return None


def _coarse(kinds: set[str], start: date, tz) -> list[datetime]:
    """Every midnight, first of a month or first of a year within the horizon, as `kinds` asks."""
    days = []
    end = start + HORIZON
    if "day" in kinds:
        days = [start + timedelta(days=n) for n in range(1, HORIZON.days + 1)]
    else:
        d = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        while d <= end:
            if "month" in kinds or (d.month == 1):
                days.append(d)
            d = (d + timedelta(days=32)).replace(day=1)
    return [datetime.combine(d, time(0), tzinfo=tz) for d in days]


def _instants(x: _Crossing, k, e, tz) -> list[datetime]:
    """Instants around which `T(t) op K` can flip, for one record's values."""
    if k is None:
        return []
    days: list[date] = []
    if x.kind == "date":  # today() + d op K  ->  t = K - d
        target = (k.astimezone(tz) if isinstance(k, datetime) else datetime.combine(k, time(0), tzinfo=tz)) - x.offset
        days = [target.date(), target.date() + _DAY]
    elif x.kind == "instant":  # now() + d op K
        target = (k if isinstance(k, datetime) else datetime.combine(k, time(0), tzinfo=tz)) - x.offset
        return [target, target + _TICK]
    elif x.kind == "minus_now" and e is not None and isinstance(k, timedelta):  # now() - e op K
        target = (e if isinstance(e, datetime) else datetime.combine(e, time(0), tzinfo=tz)) + k
        return [target, target + _TICK]
    elif x.kind in ("since", "until", "minus") and e is not None:
        base = e.astimezone(tz).date() if isinstance(e, datetime) else e
        if x.kind == "minus":
            if not isinstance(k, timedelta):
                return []
            n = k.days
        else:
            if isinstance(k, bool) or not isinstance(k, (int, Decimal)):
                return []
            n = int(k)
        if x.kind == "until":
            n = -n
        days = [base + timedelta(days=n + d) for d in (-1, 0, 1, 2)]
    return [datetime.combine(d, time(0), tzinfo=tz) for d in days if date.min < d < date.max]


def _shape(chk: Checked, node):
    """(kind, offset, e) when `node` is a time side of a known shape, else None."""
    if isinstance(node, ast.Call) and node.func in ("today", "now"):
        return ("date" if node.func == "today" else "instant"), timedelta(0), None
    if isinstance(node, ast.Call) and node.func in ("days_since", "days_until") and not _timed(node.args[0]):
        return ("since" if node.func == "days_since" else "until"), None, node.args[0]
    if isinstance(node, ast.Binary) and node.op in ("+", "-"):
        left_t, right_t = _timed(node.left), _timed(node.right)
        if left_t and not right_t:
            inner = _shape(chk, node.left)
            d = const_duration(node.right)
            if inner and inner[0] in ("date", "instant") and d is not None:
                return inner[0], inner[1] + (d if node.op == "+" else -d), None
            if inner and inner[0] in ("date", "instant") and node.op == "-" and inner[1] == timedelta(0) and \
                    chk.info[id(node.right)].type in (DATE, DATETIME):
                # today() - e or now() - e: a duration that grows with the clock
                return ("minus" if inner[0] == "date" else "minus_now"), None, node.right
            if inner and inner[0] in ("since", "until") and chk.info[id(node.right)].type == NUMBER:
                return None
    return None


_CLOCK = ("today", "now", "days_since", "days_until")


def _timed(node) -> bool:
    return any(isinstance(n, ast.Call) and n.func in _CLOCK for n in ast.walk(node))


def _clock_only(node) -> bool:
    return isinstance(node, ast.Call) and node.func in ("today", "now")


def _inside(agg, node) -> bool:
    return any(n is agg for n in ast.walk(node))


def _walk_with_child(node, child):
    """Nodes with the child object they are evaluated for (inside an aggregate's `where`), else None."""
    stack = [(node, child)]
    while stack:
        n, c = stack.pop()
        yield n, c
        if isinstance(n, ast.Call) and n.where is not None and n.args and isinstance(n.args[0], ast.Name):
            stack.append((n.where, n.args[0].parts[0]))
            stack.extend((a, c) for a in n.args)
        else:
            stack.extend((k, c) for k in ast.children(n))
