"""Helpers that compiled expressions call at run time.

Compiled code inlines what Python does natively (comparisons, `+` on ints
and Decimals, dict reads) and calls these for the rest: exact decimal
division, SPEC rounding, date arithmetic in the bundle's timezone.
Every helper gets non-empty arguments unless its docstring says otherwise.
"""
from __future__ import annotations

import calendar as _calendar
import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ONE_US = timedelta(microseconds=1)


def div(a, b):
    if b == 0:
        return None
    return Decimal(a) / Decimal(b)


def mod(a, b):
    """Remainder with the sign of the dividend (SPEC §3.4), as Decimal's % gives."""
    if b == 0:
        return None
    r = Decimal(a) % Decimal(b)
    return int(r) if isinstance(a, int) and isinstance(b, int) else r


def round_half_away(x, n=0):
    if isinstance(x, int) and n >= 0:
        return x
    try:
        n = int(n)
        q = Decimal(1).scaleb(-n)
        r = Decimal(x).quantize(q, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return int(r) if n <= 0 else r


def to_integer(x):
    """A formula's value for an `integer` field."""
    return x if x is None or isinstance(x, int) else round_half_away(x)


_CENT = Decimal("0.01")


def to_money(x):
    """A formula's value for a `money` field: two decimals, half away from zero."""
    if x is None:
        return None
    return Decimal(x).quantize(_CENT, rounding=ROUND_HALF_UP)


def to_decimals(x, n):
    return None if x is None else round_half_away(x, n)


def to_text(x):
    """Empty text is empty (SPEC §2)."""
    return x if x is None or x.strip() else None


def is_empty(x) -> bool:
    return x is None or (isinstance(x, str) and not x.strip()) or (isinstance(x, (list, tuple)) and not x)


def midnight(d: date, tz) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz)


def local_date(dt: datetime, tz) -> date:
    return dt.astimezone(tz).date()


def as_date(x, tz) -> date:
    return x.astimezone(tz).date() if isinstance(x, datetime) else x


def add_duration(d: date, delta: timedelta, tz):
    """date ± a duration not known when checking: always a datetime (its static type)."""
    return midnight(d, tz) + delta


def parse_date(t: str):
    m = _DATE.match(t.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def add_months(d, n, tz):
    n = int(n)
    is_dt = isinstance(d, datetime)
    if is_dt:
        local = d.astimezone(tz)
        base = local.date()
    else:
        base = d
    total = base.year * 12 + base.month - 1 + n
    year, month = divmod(total, 12)
    month += 1
    if not 1 <= year <= 9999:
        return None
    day = min(base.day, _calendar.monthrange(year, month)[1])
    out = date(year, month, day)
    return datetime.combine(out, local.timetz()) if is_dt else out


def mul_duration(delta: timedelta, n) -> timedelta:
    micros = Decimal(delta // _ONE_US) * Decimal(n)
    return timedelta(microseconds=int(micros.to_integral_value(rounding=ROUND_HALF_UP)))


def least(*args):
    vals = [a for a in args if a is not None]
    return min(vals) if vals else None


def greatest(*args):
    vals = [a for a in args if a is not None]
    return max(vals) if vals else None


def coalesce(*args):
    for a in args:
        if a is not None:
            return a
    return None


def collect(hits, values, default):
    """Values of the rules that held, in rule order, without duplicates (hit policy `collect`)."""
    if not hits:
        return default
    out = []
    for i in hits:
        v = values[i]
        if v not in out:
            out.append(v)
    return out


def text_in(item, container) -> bool:
    return container is not None and item in container
