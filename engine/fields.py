"""Field types (SPEC §2), registered by name.

A field type knows its value type in the expression language, the options a
bundle may give it, and how to turn what a person typed, a JSON value or an
Excel cell into the stored value (normalising where SPEC says so: phones,
empty strings, money to two decimals, datetimes to UTC).
"""
from __future__ import annotations

import re
from datetime import date, datetime, UTC
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import urlsplit

from .expr.scope import BOOL, DATE, DATETIME, LIST_TEXT, NUMBER, TEXT

TYPES: dict[str, FieldType] = {}


class FieldValueError(ValueError):
    """A value does not fit its field; `code` and `params` pick a message in `messages`."""

    def __init__(self, code: str, **params):
        self.code = code
        self.params = params
        super().__init__(code)


class Context:
    """What coercion needs from the bundle: its timezone, for datetimes written without an offset."""

    def __init__(self, tz):
        self.tz = tz


def _show(value) -> str:
    text = str(value)
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


class FieldType:
    """One kind of field: its language type and its value rules."""

    name = ""
    value_type = TEXT
    #: type-specific keys a definition may carry (beyond the common ones)
    options: tuple = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.name:
            if cls.name in TYPES:
                raise RuntimeError(f"field type `{cls.name}` registered twice")
            TYPES[cls.name] = cls()

    def coerce(self, raw, field: dict, ctx) -> object:
        """The stored value for `raw` (not empty), or raise FieldValueError."""
        return self.check(self.parse(raw, field, ctx), field)

    def parse(self, raw, field, ctx):
        if isinstance(raw, str):
            return raw.strip()
        if isinstance(raw, (int, Decimal, float)) and not isinstance(raw, bool):
            return str(raw)
        raise FieldValueError("not_text", value=_show(raw))

    def check(self, value, field):
        return value


class Text(FieldType):
    name = "text"
    options = ("max_length", "pattern")
    default_max = 200

    def check(self, value, field):
        limit = field.get("max_length") or self.default_max
        if len(value) > limit:
            raise FieldValueError("too_long", max=limit, length=len(value))
        pattern = field.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            raise FieldValueError("pattern")
        return value


class Textarea(Text):
    name = "textarea"
    options = ("max_length",)
    default_max = 10000

    def parse(self, raw, field, ctx):
        if isinstance(raw, str):
            return raw.strip("\n\r ").replace("\r\n", "\n")
        return super().parse(raw, field, ctx)


_NUM_CLEAN = re.compile(r"[\s,，¥￥$€]|^CNY|RMB|元$")


def parse_decimal(raw) -> Decimal:
    if isinstance(raw, bool):
        raise FieldValueError("not_number", value=_show(raw))
    if isinstance(raw, (int, Decimal)):
        return Decimal(raw)
    if isinstance(raw, float):
        return Decimal(repr(raw))  # the float's shortest text: 0.1 -> 0.1, not 0.1000000000000000055
    if isinstance(raw, str):
        text = _NUM_CLEAN.sub("", raw.strip()).replace("－", "-").replace("．", ".")
        text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise FieldValueError("not_number", value=_show(raw)) from None
        if value.is_finite():
            return value
    raise FieldValueError("not_number", value=_show(raw))


class Number(FieldType):
    name = "number"
    value_type = NUMBER
    options = ("min", "max", "decimals")

    def parse(self, raw, field, ctx):
        value = parse_decimal(raw)
        decimals = field.get("decimals")
        if decimals is not None:
            value = value.quantize(Decimal(1).scaleb(-int(decimals)), rounding=ROUND_HALF_UP)
        return _tidy(value)

    def check(self, value, field):
        low, high = field.get("min"), field.get("max")
        if low is not None and value < low:
            raise FieldValueError("too_small", min=low)
        if high is not None and value > high:
            raise FieldValueError("too_large", max=high)
        return value


def _tidy(value: Decimal):
    """Whole decimals become ints: the language treats them alike and ints are faster."""
    if value == value.to_integral_value() and value.as_tuple().exponent >= -2 and abs(value) < 10 ** 18:
        exp = value.as_tuple().exponent
        if exp >= 0 or value == int(value):
            return int(value) if exp >= 0 else value
    return value


class Integer(Number):
    name = "integer"
    options = ("min", "max")

    def parse(self, raw, field, ctx):
        value = parse_decimal(raw)
        if value != value.to_integral_value():
            raise FieldValueError("not_integer", value=_show(raw))
        return int(value)


_CENT = Decimal("0.01")


class Money(Number):
    name = "money"
    options = ("min", "max", "currency")

    def parse(self, raw, field, ctx):
        return parse_decimal(raw).quantize(_CENT, rounding=ROUND_HALF_UP)


class Percent(Number):
    name = "percent"
    options = ("min", "max", "decimals")

    def parse(self, raw, field, ctx):
        if isinstance(raw, str) and raw.strip().endswith(("%", "％")):
            raw = raw.strip()[:-1]
        value = super().parse(raw, field, ctx)
        if not 0 <= value <= 100:
            raise FieldValueError("percent_range")
        return value


_TRUE = {"true", "yes", "y", "1", "是", "对", "√", "✓", "有", "t"}
_FALSE = {"false", "no", "n", "0", "否", "不", "×", "✗", "无", "f"}


class Boolean(FieldType):
    name = "boolean"
    value_type = BOOL

    def parse(self, raw, field, ctx):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (int, Decimal)) and raw in (0, 1):
            return bool(raw)
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise FieldValueError("not_bool", value=_show(raw))


_DATE_FORMS = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class Date(FieldType):
    name = "date"
    value_type = DATE

    def parse(self, raw, field, ctx):
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        m = _DATE_FORMS.match(str(raw).strip())
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                pass
        raise FieldValueError("not_date", value=_show(raw))


class DateTime(FieldType):
    name = "datetime"
    value_type = DATETIME

    def parse(self, raw, field, ctx):
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime(raw.year, raw.month, raw.day)
        else:
            text = str(raw).strip().replace("Z", "+00:00").replace("/", "-")
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise FieldValueError("not_datetime", value=_show(raw)) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=ctx.tz)
        return value.astimezone(UTC)


class Select(FieldType):
    name = "select"
    options = ("options",)

    def parse(self, raw, field, ctx):
        text = super().parse(raw, field, ctx)
        values, by_label = option_index(field)
        if text in values:
            return text
        if text in by_label:
            return by_label[text]
        raise FieldValueError("not_option", value=_show(text), options="、".join(values))


def option_index(field: dict) -> tuple[list[str], dict[str, str]]:
    """Option values in order, and label -> value (people type labels; we store values)."""
    cached = field.get("__options__")
    if cached is None:
        values, by_label = [], {}
        for opt in field.get("options") or ():
            if isinstance(opt, dict):
                value = str(opt.get("value"))
                by_label[str(opt.get("label", value))] = value
            else:
                value = str(opt)
            values.append(value)
        cached = (values, by_label)
        field["__options__"] = cached
    return cached


_SPLIT = re.compile(r"\s*[,，;；、|]\s*")


def items_of(text: str) -> list[str]:
    """The choices a multi-select's text names, as people type them in a cell: `a、b`, `a, b`, `a；b`."""
    return [x for x in _SPLIT.split(text.strip()) if x]


class MultiSelect(FieldType):
    name = "multiselect"
    value_type = LIST_TEXT
    options = ("options",)

    def parse(self, raw, field, ctx):
        if isinstance(raw, str):
            items = items_of(raw)
        elif isinstance(raw, (list, tuple)):
            items = raw
        else:
            raise FieldValueError("not_list")
        values, by_label = option_index(field)
        out = []
        for item in items:
            text = str(item).strip()
            if text in by_label and text not in values:
                text = by_label[text]
            if text not in values:
                raise FieldValueError("not_option", value=_show(text), options="、".join(values))
            if text not in out:
                out.append(text)
        return out or None


_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str | None:
    """SPEC §2: a mainland mobile as its 11 digits, another number in E.164; None if neither."""
    text = re.sub(r"[\s\-()（）.]", "", str(raw)).replace("＋", "+")
    text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if text.startswith("0086"):
        text = "+86" + text[4:]
    if text.startswith("+86") and _MOBILE.match(text[3:]):
        return text[3:]
    if _MOBILE.match(text):
        return text
    if re.fullmatch(r"0[1-9]\d{8,10}", text):  # a mainland landline with its area code
        return "+86" + text[1:]
    if re.fullmatch(r"\+[1-9]\d{6,14}", text):
        return text
    return None


class Phone(FieldType):
    name = "phone"

    def parse(self, raw, field, ctx):
        if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
            raw = str(raw)
        value = normalize_phone(raw)
        if value is None:
            raise FieldValueError("not_phone", value=_show(raw))
        return value


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Email(FieldType):
    name = "email"

    def check(self, value, field):
        if not _EMAIL.match(value) or len(value) > 254:
            raise FieldValueError("not_email", value=_show(value))
        return value


class Url(FieldType):
    name = "url"

    def check(self, value, field):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 2000:
            raise FieldValueError("not_url", value=_show(value))
        return value


class Region(FieldType):
    name = "region"

    def parse(self, raw, field, ctx):
        text = super().parse(raw, field, ctx)
        parts = [p.strip() for p in re.split(r"[/／]", text)]
        if not 1 <= len(parts) <= 4 or not all(parts):
            raise FieldValueError("not_region", value=_show(raw))
        return "/".join(parts)


class User(FieldType):
    name = "user"

    def check(self, value, field):
        if not re.fullmatch(r"[\w.@+-]{1,150}", value):
            raise FieldValueError("not_user", value=_show(value))
        return value


class Autonumber(FieldType):
    name = "autonumber"
    options = ("format",)


def is_empty_input(raw) -> bool:
    """SPEC §2: an empty string, white space only and an empty list are empty."""
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, (list, tuple)) and not raw)
