"""The error file of an import: the rows that failed, as they were in the file, plus their row number and error.

Fix the rows in Excel and import the file again: the two added columns have
headings no field has, so they are ignored. The file is written streaming
(openpyxl write-only), merging the original file, read again, with the
problems in row order, so memory stays bounded.
"""
from __future__ import annotations

from itertools import groupby
from typing import BinaryIO

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ImportJob, ImportProblem
from .jobs import tables
from .words import words
from .xlsx import safe_row, sheet_title


def write_errors(session: Session, bundle, job: ImportJob, out: BinaryIO) -> int:
    """Write the failed rows of `job` to `out` as XLSX, a sheet per table with failures; returns how many rows."""
    w = words(bundle)
    wb = Workbook(write_only=True)
    written = 0
    failing = set(session.scalars(select(ImportProblem.stage).where(
        ImportProblem.job_id == job.id, ImportProblem.kind == "error").distinct()))
    for stage, table, options in tables(job):
        if stage not in failing and (failing or stage != "parents"):
            continue  # a sheet per table with failures; the parents' headings alone when nothing failed
        stmt = (select(ImportProblem.file_row, ImportProblem.column_label, ImportProblem.message)
                .where(ImportProblem.job_id == job.id, ImportProblem.stage == stage, ImportProblem.kind == "error")
                .order_by(ImportProblem.file_row, ImportProblem.id))
        failures = groupby(session.execute(stmt.execution_options(yield_per=1000)), key=lambda p: p.file_row)
        current = next(failures, None)
        ws = wb.create_sheet(sheet_title(table.sheet or bundle.objects[options.get("object") or job.object].label))
        ws.append(safe_row(ws, list(options["headers"]) + [w["row"], w["error"]]))
        if current is None:
            continue
        for number, cells in table.rows():
            while current is not None and current[0] < number:  # a row no longer in the file
                current = next(failures, None)
            if current is None:
                break
            if current[0] != number:
                continue
            text = w["sep"].join(f"{p.column_label}{w['colon']}{p.message}" if p.column_label else p.message
                                 for p in current[1])
            ws.append(safe_row(ws, list(cells) + [number, text]))
            written += 1
            current = next(failures, None)
    wb.save(out)
    return written
