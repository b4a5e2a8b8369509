"""Writing cells safely to XLSX (openpyxl write-only): text stays text, never a formula or a broken file."""
from __future__ import annotations

import re

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

_TITLE = re.compile(r"[\[\]:*?/\\]")


def safe_row(ws, values: list) -> list:
    """Cells for `ws.append`: control characters Excel refuses are dropped, and text beginning with `=`
    is written as text (openpyxl would store it as a formula: a customer named `=HYPERLINK(...)` must not run)."""
    out = []
    for value in values:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"
                value = cell
        out.append(value)
    return out


def sheet_title(text: str) -> str:
    """A valid sheet name: at most 31 characters, none of []:*?/\\."""
    return (_TITLE.sub(" ", text).strip() or "Sheet")[:31]
