"""Values to and from JSON as the CLI and API write them.

Dates as ``YYYY-MM-DD``, datetimes as ISO 8601 with the bundle timezone's
offset, durations as whole (or fractional) seconds, numbers as exact decimals
(never through float), empty as null.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import simplejson


def to_json(value, tz=None):
    if isinstance(value, datetime):
        return (value.astimezone(tz) if tz else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = Decimal(value // timedelta(microseconds=1)) / Decimal(1_000_000)
        return _number(seconds)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return {str(k): to_json(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, tz) for v in value]
    return value


def _number(d: Decimal):
    if d == d.to_integral_value():
        return int(d)
    return d.normalize()


def dumps(value) -> str:
    """One line of JSON; Decimals written exactly; Chinese kept readable."""
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, separators=(",", ":"))


def loads(text: str):
    """JSON with exact decimals (a JSON number 0.1 is Decimal('0.1'), never a float)."""
    return simplejson.loads(text, use_decimal=True)
