"""What a classifier remembers between records gives what working each record out afresh gives.

`Classifier.coerce` parses each distinct text of a field once (`classify.MEMO_LIMIT`); the batched import
coerces hundreds of thousands of records through it. Each case runs a sequence of records through one
classifier and compares every typed value with the field type's own coercion of that value, so a value
remembered for one text, one field or one type can never leak into another.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from engine import RecordInvalid, classify, load_bundle_text
from engine.fields import TYPES, Context, FieldValueError, is_empty_input

BUNDLE = """
bundle: memo
locale: en
timezone: Asia/Shanghai
objects:
  customer:
    fields:
      - {key: name, type: text}
      - {key: note, type: textarea}
      - {key: stage, type: select, options: [{value: lead, label: Lead}, {value: won, label: Won}]}
      - {key: lines, type: multiselect, options: [a, b, c]}
      - {key: revenue, type: money}
      - {key: share, type: number, decimals: 1}
      - {key: staff, type: integer}
      - {key: since, type: date}
      - {key: seen_at, type: datetime}
      - {key: key_account, type: boolean}
      - {key: region, type: region}
      - {key: mobile, type: phone}
      - {key: doubled, type: money, formula: "revenue * 2"}
classifications:
  - key: tier
    object: customer
    rules:
      - {when: "revenue >= 100", value: A}
    default: B
"""
AS_OF = datetime(2026, 3, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai"))

#: (field, the texts given to it record after record): repeats, blanks, near-misses and bad values
CASES = [
    ("name", [" Acme ", "Acme", " Acme ", "", "  ", "Acme"]),
    ("note", ["a\r\nb", "a\nb", "a\r\nb", "\n"]),
    ("stage", ["Lead", "lead", "Lead", "Won", "nope", "Lead", "nope"]),
    ("lines", ["a、b", "a,b", "a、b", "b", "a、b", "d", "a、b"]),
    ("revenue", ["1,000", "1000", "1,000", "1000.50", "¥1000", "abc", "1,000"]),
    ("share", ["1.25", "1.2", "1.25", "1.30"]),
    ("staff", ["12", "12.0", "12", "1.5"]),
    ("since", ["2026-01-02", "2026/1/2", "2026年1月2日", "2026-01-02", "2026-02-30"]),
    ("seen_at", ["2026-01-02 09:00", "2026-01-02T01:00:00Z", "2026-01-02 09:00", "later"]),
    ("key_account", ["是", "否", "yes", "是", "maybe"]),
    ("region", ["浙江省/杭州市", "浙江省 / 杭州市", "浙江省/杭州市", "/"]),
    ("mobile", ["13800000000", "+86 138 0000 0000", "13800000000", "12345"]),
    ("doubled", ["5", "5"]),
]
CTX = Context(ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def clf():
    return load_bundle_text(BUNDLE, "memo.yaml").classifier("customer")


def _fresh(f, raw):
    """The field type's own coercion of `raw` (what `coerce` gives without remembering anything)."""
    if f.formula is not None or is_empty_input(raw):
        return None
    try:
        return TYPES[f.type].coerce(raw, f.spec, CTX)
    except FieldValueError as exc:
        return exc.code


def _same(a, b) -> bool:
    """Equal, and of the same type and written the same (Decimal('1.0') is not Decimal('1.00') here)."""
    return type(a) is type(b) and (str(a) == str(b) if isinstance(a, (Decimal, date)) else a == b)


@pytest.mark.parametrize("key,texts", CASES, ids=[k for k, _ in CASES])
def test_coerce_remembers_nothing_wrong(clf, key, texts):
    f = clf.object.fields[key]
    for text in texts:
        problems: list = []
        typed = clf.coerce({key: text}, problems=problems)
        want = _fresh(f, text)
        if isinstance(want, str) and problems and problems[0].path == key:
            assert typed[key] is None, text
            continue
        assert not problems, (text, problems)
        assert _same(typed[key], want), (text, typed[key], want)


def test_a_remembered_list_is_a_copy(clf):
    first = clf.coerce({"lines": "a、b"}, problems=[])["lines"]
    first.append("c")
    assert clf.coerce({"lines": "a、b"}, problems=[])["lines"] == ["a", "b"]


def test_the_same_text_in_another_field_is_coerced_for_that_field(clf):
    typed = clf.coerce({"name": "1,000", "revenue": "1,000", "note": "1,000"}, problems=[])
    assert typed["name"] == "1,000" and typed["note"] == "1,000" and typed["revenue"] == Decimal("1000")


def test_bad_values_are_reported_every_time(clf):
    for _ in range(3):
        with pytest.raises(RecordInvalid) as info:
            clf.coerce({"revenue": "abc", "stage": "nope"})
        assert {p.path for p in info.value.problems} == {"revenue", "stage"}


def test_memory_is_bounded(clf, monkeypatch):
    monkeypatch.setattr(classify, "MEMO_LIMIT", 3)
    for n in range(10):
        assert clf.coerce({"name": f"n{n}"}, problems=[])["name"] == f"n{n}"
    seen = next(memo for key, _f, memo in clf._inputs if key == "name")
    assert len(seen) == 3


def test_validate_and_classify_see_the_same_values(clf):
    """A record validated twice, with its texts remembered the second time, gets the same result."""
    raw = {"name": " Acme ", "stage": "Lead", "lines": "a、b", "revenue": "1,000", "since": "2026/1/2"}
    first, result = clf.validate(dict(raw), AS_OF)
    second, again = clf.validate(dict(raw), AS_OF)
    assert first == second and result.values == again.values == {"doubled": Decimal("2000"), "tier": "A"}
