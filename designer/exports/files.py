"""Exporting a list to XLSX or CSV: the list page's filters, sort and scope, a page at a time.

Headings are the field labels, and values read as on the record page:
select labels, 是/否, datetimes in the bundle's local time, so an exported
file imports again unchanged (its headings map back to the fields). Numbers
stay plain numbers (no ¥, no separators) so Excel can add them up. Every
classification gets two columns: its value, and the sentence saying why
(engine.explain.describe). Records are read with the list's keyset cursor,
so memory stays bounded at any size; XLSX is written by openpyxl's
write-only mode, CSV is UTF-8 with a BOM (Excel opens the Chinese right).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import BinaryIO

from openpyxl import Workbook
from sqlalchemy.orm import Session

from engine.explain import describe
from engine.fields import option_index

from ..imports.words import words
from ..imports.xlsx import safe_row, sheet_title
from ..models import Record
from ..records import listing

FORMATS = ("xlsx", "csv")
#: records read per query (one keyset page)
PAGE = 500
#: what is read of each record
READ = (Record.id, Record.title, Record.owner, Record.pool, Record.data, Record.computed, Record.explain,
        Record.created_at, Record.updated_at)
_NUMBERS = ("integer", "number", "money", "percent")


class FilterInvalid(ValueError):
    """The list's expression filter does not check: nothing is exported."""

    def __init__(self, column: int, message: str):
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}")


@dataclass
class Column:
    heading: str
    #: 'field', 'computed' (formula), 'class' (a classification's value), 'why', or a system attribute
    source: str
    key: str = ""
    field: object = None


def columns(bundle, obj) -> list[Column]:
    w = words(bundle)
    out = [Column(f.label, "computed" if f.formula is not None else "field", k, f) for k, f in obj.fields.items()]
    if obj.parent is None:
        out += [Column(w["owner"], "owner"), Column(w["pool"], "pool")]
    out += [Column(w["created_at"], "created_at"), Column(w["updated_at"], "updated_at")]
    for c in bundle.classifications_of(obj.key):
        out += [Column(c.label, "class", c.key), Column(w["why"].format(label=c.label), "why", c.key)]
    return out


def records(session: Session, cur, obj, user, args) -> Iterator:
    """The records of the list `args` describe (filters, search, expression, sort), as `user` sees them: rows
    of what a file shows of them (`READ`), which the session does not keep."""
    params = {k: v for k, v in (args.to_dict() if hasattr(args, "to_dict") else dict(args)).items() if k != "after"}
    while True:
        page = listing.query(session, cur, obj, user, params, size=PAGE, columns=READ)
        if page.expr_error:
            raise FilterInvalid(page.expr_error["column"], page.expr_error["message"])
        yield from page.records
        if not page.next_cursor:
            return
        params["after"] = page.next_cursor


def rows(session: Session, cur, obj, user, args, *, fmt: str = "xlsx") -> Iterator[list]:
    """The heading row, then one row per record, values as `fmt` holds them best."""
    bundle = cur.bundle
    clf = bundle.classifier(obj.key)
    w = words(bundle)
    cols = columns(bundle, obj)
    yield [c.heading for c in cols]
    for record in records(session, cur, obj, user, args):
        why = describe(clf, record.explain or {}) if any(c.source == "why" for c in cols) else {}
        out = []
        for c in cols:
            if c.source == "field":
                value = _shown(record.data.get(c.key), c.field, bundle, w, fmt)
            elif c.source == "computed":
                value = _shown(record.computed.get(c.key), c.field, bundle, w, fmt)
            elif c.source == "class":
                value = _plain(record.computed.get(c.key), w, fmt)
            elif c.source == "why":
                value = why.get(c.key)
            elif c.source in ("created_at", "updated_at"):
                value = _local(getattr(record, c.source), bundle)
            else:
                value = getattr(record, c.source)
            out.append(value)
        yield out


def _local(value, bundle) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(bundle.tz).strftime("%Y-%m-%d %H:%M")


def _shown(value, f, bundle, w, fmt):
    """A stored value as the record page shows it (numbers and dates kept as such for XLSX)."""
    if value is None or value == []:
        return None
    t = f.type
    if t == "boolean":
        return w["yes"] if value else w["no"]
    if t in ("select", "multiselect"):
        _values, by_label = option_index(f.spec)
        labels = {v: k for k, v in by_label.items()}
        return "、".join(labels.get(v, v) for v in (value if isinstance(value, list) else [value]))
    if t == "datetime":
        return _local(value, bundle)
    if t == "date" and fmt == "xlsx":
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            return str(value)
    if t in _NUMBERS and fmt == "xlsx" and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    return str(value)


def _plain(value, w, fmt):
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return w["yes"] if value else w["no"]
    if isinstance(value, list):
        return "、".join(map(str, value))
    if isinstance(value, (int, float, Decimal)) and fmt == "xlsx":
        return value
    return str(value)


def write_xlsx(rows_: Iterator[list], out: BinaryIO, title: str):
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet_title(title))
    for row in rows_:
        ws.append(safe_row(ws, row))
    wb.save(out)


def csv_chunks(rows_: Iterator[list], per_chunk: int = 200) -> Iterator[str]:
    """CSV text in chunks for a streamed response: a BOM first, then rows (text that Excel would run as a
    formula is prefixed with an apostrophe)."""
    yield "\ufeff"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n, row in enumerate(rows_, 1):
        writer.writerow(["" if v is None else _csv_safe(str(v)) for v in row])
        if n % per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_safe(text: str) -> str:
    """OWASP's CSV injection rule, but a number with its sign (+4930123456, -5) is left alone."""
    if text[:1] in ("=", "@", "\t", "\r"):
        return "'" + text
    if text[:1] in ("+", "-") and not text[1:].replace(".", "", 1).isdigit():
        return "'" + text
    return text
