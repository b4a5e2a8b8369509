"""`codecs.dumps_wire` writes exactly what `codecs.dumps` writes, for every kind of value a record stores."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from engine import codecs

#: typed values as records hold them, turned into what is stored by `to_json` (as `records.store.wire` does)
TYPED = [
    {"name": "无锡恒盛誉重工股份有限公司", "mobile": None, "email": "info0@mfg0.com.cn"},
    {"revenue": Decimal("1785000.00"), "share": Decimal("0.125"), "staff": Decimal("12")},
    {"lines": ["数控机床", "零配件与耗材"], "empty": [], "nested": {"a": [1, {"b": None}]}},
    {"since": date(2026, 1, 2), "seen": datetime(2026, 1, 2, 1, tzinfo=UTC), "every": timedelta(hours=1, seconds=1)},
    {"flag": True, "off": False, "big": 10 ** 30, "negative": Decimal("-0.5")},
    {"quote": 'say "hi"\\', "control": "a\nb\tc\x01", "separators": "a\u2028b\u2029c", "emoji": "😀"},
    "text", "", None, 0, Decimal("1.10"), ["a", Decimal("2.5")], ("a", "b"),
]


@pytest.mark.parametrize("value", TYPED, ids=[repr(v)[:40] for v in TYPED])
def test_dumps_wire_is_dumps(value):
    stored = codecs.to_json(value)
    assert codecs.dumps_wire(stored) == codecs.dumps(stored)


@pytest.mark.parametrize("value,stored", [
    ("x", "x"), (1, 1), (True, True), (None, None), (Decimal("1.50"), Decimal("1.5")), (Decimal("2"), 2),
    (date(2026, 1, 2), "2026-01-02"), ({"a": (1, "b")}, {"a": [1, "b"]}),
])
def test_to_json(value, stored):
    """Text, integers, booleans and None come back as they are (its shortcut), the rest converted."""
    out = codecs.to_json(value)
    assert out == stored and type(out) is type(stored)


@pytest.mark.parametrize("text,expected", [
    ('[1.50, 1, 1E+2, -0.0, 0.1]', [Decimal("1.50"), 1, Decimal("1E+2"), Decimal("-0.0"), Decimal("0.1")]),
    ('{"名": "\\u4e2d", "n": null, "t": true}', {"名": "中", "n": None, "t": True}),
])
def test_loads_reads_numbers_exactly(text, expected):
    out = codecs.loads(text)
    assert out == expected and [type(v) for v in (out if isinstance(out, list) else out.values())] == \
        [type(v) for v in (expected if isinstance(expected, list) else expected.values())]


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "{'a': 1}", ""])
def test_loads_refuses_what_is_not_json(text):
    with pytest.raises(ValueError):
        codecs.loads(text)
