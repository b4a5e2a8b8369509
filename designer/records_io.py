"""Reading record files for the command line: JSONL (children nested), CSV and XLSX.

CSV and XLSX columns may be headed by a field's key or its label (Chinese
headers from Excel); CSV may be UTF-8 (with or without BOM) or GB18030, as
Excel on Chinese Windows writes it.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from collections.abc import Iterator

from engine import codecs


class RowError(Exception):
    """A line of the file could not be read as a record at all."""


def read_records(path: Path, header_map: dict[str, str]) -> Iterator[tuple[int, dict | RowError]]:
    """Yield (line or row number, record) — or (number, RowError) for an unreadable row."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl(path)
    elif suffix == ".csv":
        yield from _csv(path, header_map)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx(path, header_map)
    else:
        raise ValueError(f"{path}: unknown record file type `{suffix}`; use .jsonl, .csv or .xlsx")


def _jsonl(path: Path):
    with path.open("r", encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = codecs.loads(line)
            except ValueError as exc:
                yield number, RowError(f"not valid JSON: {exc}")
                continue
            yield number, value if isinstance(value, dict) else RowError("a line must hold one JSON object")


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def _csv(path: Path, header_map):
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    header = None
    for row in reader:
        if header is None:
            header = [header_map.get(h.strip(), h.strip()) for h in row]
            continue
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, dict(zip(header, row))


def _xlsx(path: Path, header_map):
    from openpyxl import load_workbook
    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        header = None
        for number, row in enumerate(ws.iter_rows(values_only=True), 1):
            if header is None:
                header = [header_map.get(str(h).strip(), str(h).strip()) if h is not None else "" for h in row]
                continue
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
                continue
            yield number, {k: v for k, v in zip(header, row) if k}
    finally:
        wb.close()


def header_map_for(classifier) -> dict[str, str]:
    """Column heading -> field key: by key, by label."""
    out = {}
    for key, f in classifier.object.fields.items():
        out[f.label] = key
        out[key] = key
    return out
