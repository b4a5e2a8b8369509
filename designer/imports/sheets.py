"""Tables in files: the rows of a CSV file or of one XLSX sheet, read one at a time.

Memory stays bounded however large the file: CSV goes through the csv
module's reader over the open file, XLSX through openpyxl's read-only mode.
Rows are numbered as Excel shows them (the heading is row 1), blank rows
are skipped but keep their numbers, so an error report's row numbers point
at the row in the file the user has open.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: file types an import reads
SUFFIXES = (".csv", ".xlsx", ".xlsm")


class SheetError(ValueError):
    """A file that cannot be read as a table (wrong type, no such sheet, no heading row)."""


def is_xlsx(path: Path) -> bool:
    return Path(path).suffix.lower() in (".xlsx", ".xlsm")


def check_suffix(path: Path):
    if Path(path).suffix.lower() not in SUFFIXES:
        raise SheetError(f"{Path(path).name}: not a .csv or .xlsx file")


def sheet_names(path: Path) -> list[str]:
    """The sheets of an XLSX workbook, in order; a CSV file has none."""
    if not is_xlsx(path):
        return []
    wb = _open(path)
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def checksum(path: Path) -> str:
    """SHA-256 of the file: a resumed import refuses a file that changed under it."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open(path: Path):
    from openpyxl import load_workbook
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike: the file is not a workbook
        raise SheetError(f"{Path(path).name}: not a readable XLSX workbook ({exc})") from None


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as such, else GB18030 (Excel on Chinese Windows)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def _blank(cells) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in cells)


@dataclass(frozen=True)
class Table:
    """One table: a CSV file, or a sheet of an XLSX workbook (`sheet` None: the first)."""

    path: Path
    sheet: str | None = None

    def _raw(self) -> Iterator[tuple]:
        """Every row as a tuple of cells, from row 1."""
        if is_xlsx(self.path):
            wb = _open(self.path)
            try:
                if self.sheet is not None and self.sheet not in wb.sheetnames:
                    raise SheetError(f"{self.path.name}: no sheet `{self.sheet}`; sheets: {', '.join(wb.sheetnames)}")
                ws = wb[self.sheet] if self.sheet is not None else wb.worksheets[0]
                yield from ws.iter_rows(values_only=True)
            finally:
                wb.close()
            return
        with open(self.path, encoding=_encoding(self.path), newline="") as fh:
            for row in csv.reader(fh):
                yield tuple(row)

    def header(self) -> list[str]:
        """The headings of row 1 as text ('' for an empty heading)."""
        for row in self._raw():
            return self._headings(row)
        return self._headings(())

    def _headings(self, row) -> list[str]:
        headings = [("" if h is None else str(h)).strip() for h in row]
        while headings and not headings[-1]:
            headings.pop()
        if not headings:
            raise SheetError(f"{self.label}: the first row must hold the column headings")
        return headings

    def rows(self, after: int = 0) -> Iterator[tuple[int, list]]:
        """(row number, cells) of every non-blank row after the heading and after row `after`,
        each as long as the heading (missing cells None, cells beyond the last heading dropped)."""
        width = 0
        for number, row in enumerate(self._raw(), 1):
            if number == 1:
                width = len(self._headings(row))
                continue
            if number <= after or _blank(row):
                continue
            cells = list(row[:width])
            cells += [None] * (width - len(cells))
            yield number, cells

    def count(self) -> int:
        return sum(1 for _ in self.rows())

    @property
    def label(self) -> str:
        return f"{self.path.name} [{self.sheet}]" if self.sheet else self.path.name
