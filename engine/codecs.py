"""Values to and from JSON as the CLI and API write them.

Dates as ``YYYY-MM-DD``, datetimes as ISO 8601 with the bundle timezone's
offset, durations as whole (or fractional) seconds, numbers as exact decimals
(never through float), empty as null.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import simplejson

#: one encoder for every `dumps` (building one per call costs as much as encoding a small value)
_ENCODER = simplejson.JSONEncoder(use_decimal=True, ensure_ascii=False, separators=(",", ":"))


#: types `to_json` returns as they are, looked up before its checks (most values of a record are text)
_AS_IS = frozenset({str, int, bool, type(None)})


def to_json(value, tz=None):
    if value.__class__ in _AS_IS:
        return value
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
    return _ENCODER.encode(value)


#: the standard library's encoder writes what `_ENCODER` writes for JSON-ready values without decimals, and
#: in about half the time (simplejson's C speedups still call back into Python for every container)
_PLAIN_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps_wire(value) -> str:
    """`dumps` of a value as `to_json` returns it (dicts, lists, text, numbers, booleans, None: no tuples,
    which simplejson would write as objects when named): by the standard library's encoder, faster, unless
    the value holds a Decimal, which only simplejson writes exactly (the standard one refuses it)."""
    try:
        return _PLAIN_ENCODER.encode(value)
    except TypeError:
        return _ENCODER.encode(value)


def _typed_default(value):
    if isinstance(value, Decimal):
        return simplejson.RawJSON(str(_number(value)))
    if isinstance(value, (date, timedelta)):
        return to_json(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_TYPED_ENCODER = simplejson.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_typed_default,
                                        use_decimal=False, namedtuple_as_object=False)


def dumps_typed(value) -> str:
    """`dumps(to_json(value))` in one pass, for typed values whose mapping keys are text: the encoder
    writes decimals, dates and durations as `to_json` does when it meets them, instead of a JSON-ready
    copy being built first (bulk writes encode every record's values and explanation)."""
    return _TYPED_ENCODER.encode(value)


def join_object(parts: dict[str, str]) -> str:
    """The JSON object whose values are already encoded (`parts`: key -> JSON text), as `dumps` writes it."""
    return "{" + ",".join(member(key, text) for key, text in parts.items()) + "}"


def member(key: str, text: str) -> str:
    """One member of a JSON object, its value already encoded: `"key":text`, as `dumps` writes it."""
    return f"{_ENCODER.encode(key)}:{text}"


#: one decoder for every `loads`: `simplejson.loads(text, use_decimal=True)` builds a decoder a call, which
#: took as long as decoding a child record's values
_DECODER = simplejson.JSONDecoder(parse_float=Decimal)


def loads(text: str):
    """JSON with exact decimals (a JSON number 0.1 is Decimal('0.1'), never a float)."""
    return _DECODER.decode(text)
