"""Rows checked ahead by a helper process (designer.imports.ahead) are what this process would make of them,
batch for batch and in order; a helper that fails leaves its batches to this process."""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from designer.bundles.workspace import Current
from designer.imports import ahead
from designer.imports.batch import _Row, check
from designer.imports.rows import Outcome, Rows
from engine import load_bundle_text

TEMPLATE = Path(__file__).resolve().parent.parent / "examples" / "manufacturing" / "bundle.yaml"
HEADERS = ["公司名称", "联系人手机", "销售阶段", "流失原因", "预计年采购额", "框架合同到期日"]
COLUMNS = ["name", "mobile", "stage", "lost_reason", "annual_purchase", "contract_end"]
FIRST_DAY = datetime(2026, 3, 1, tzinfo=UTC).date()


def _rows(source: str) -> Rows:
    return Rows(Current(1, load_bundle_text(source, "bundle.yaml")), "customer", HEADERS, COLUMNS, user=None,
                owner=None, actor="importer", duplicates="skip")


def _file(n: int) -> list[tuple[int, list]]:
    """(row number, cells): every seventh row without a name, every eleventh lost without a reason."""
    out = []
    for i in range(n):
        stage = "流失" if i % 11 == 0 else ["线索", "商机", "报价", "成交"][i % 4]
        out.append((i + 2, ["" if i % 7 == 0 else f"公司{i}", f"1380000{i:04d}", stage, "",
                            str(10_000 * i), (FIRST_DAY + timedelta(days=i)).isoformat()]))
    return out


def _clock():
    """Instants a second apart, as each batch is handed over."""
    start = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
    ticks = iter(range(10_000))
    return lambda: start + timedelta(seconds=next(ticks))


@pytest.mark.parametrize("helper", ["bundle", "broken"])
def test_the_helper_checks_what_this_process_would(monkeypatch, caplog, helper):
    source = TEMPLATE.read_text("utf-8")
    rows, here = _rows(source), _rows(source)
    monkeypatch.setattr(ahead.os, "cpu_count", lambda: 2)
    given = (source, "bundle.yaml") if helper == "bundle" else ("objects: [", "bundle.yaml")  # fails to start
    file = _file(45)
    with caplog.at_level(logging.WARNING, logger=ahead.__name__):
        got = list(ahead.batches(rows, iter(file), 10, _clock(), helper=given))
    assert [len(chunk) for chunk, _at, _checked in got] == [10, 10, 10, 10, 5]
    assert [n for chunk, _at, _checked in got for n, _cells in chunk] == [n for n, _cells in file]
    clock = _clock()
    for chunk, at, checked in got:
        assert at == clock()  # each batch checked at the instant it was handed over, saved at the same
        assert checked == check(here, chunk, at)
    failed = [r for _c, _a, checked in got for r in checked if isinstance(r, Outcome)]
    valid = [r for _c, _a, checked in got for r in checked if isinstance(r, _Row)]
    assert len(failed) == len({i for i in range(45) if i % 7 == 0 or i % 11 == 0})
    assert len(valid) == 45 - len(failed)
    assert all("next_change" in r.ahead and "cadence" in r.ahead for r in valid)
    warned = [r.getMessage() for r in caplog.records]
    assert bool(warned) == (helper == "broken"), warned


def test_without_a_helper_rows_are_checked_here_as_each_batch_is_reached(monkeypatch):
    source = TEMPLATE.read_text("utf-8")
    rows = _rows(source)
    started = []
    monkeypatch.setattr(ahead, "ProcessPoolExecutor", lambda *a, **k: started.append(1))
    file = _file(12)
    got = list(ahead.batches(rows, iter(file), 5, _clock(), helper=None))
    assert not started and [len(c) for c, _a, _k in got] == [5, 5, 2]
    monkeypatch.setattr(ahead.os, "cpu_count", lambda: 1)  # one core: a helper would only take turns with this
    assert len(list(ahead.batches(rows, iter(file), 5, _clock(), helper=(source, "bundle.yaml")))) == 3
    assert not started


#: an import's process that has its helper check a batch, then dies without a word (as under kill -9)
KILLED = """
import multiprocessing, os, sys
from datetime import UTC, datetime
from tests.test_import_ahead import TEMPLATE, _file, _rows
from designer.imports import ahead
source = TEMPLATE.read_text("utf-8")
batches = ahead.batches(_rows(source), iter(_file(40)), 10, lambda: datetime.now(UTC), helper=(source, "bundle.yaml"))
next(batches)
with open(sys.argv[1], "w") as out:
    out.write(" ".join(str(p.pid) for p in multiprocessing.active_children()))
os._exit(9)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads processes' states from /proc")
def test_an_import_killed_outright_leaves_no_helper_behind(tmp_path):
    root, pids = Path(__file__).resolve().parent.parent, tmp_path / "helpers"
    # no pipes: a helper left behind would hold them open, and the test would wait for it instead of failing
    result = subprocess.run([sys.executable, "-c", KILLED, str(pids)], cwd=root, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    assert result.returncode == 9
    helpers = [int(pid) for pid in pids.read_text().split()]
    assert helpers  # the helper was running when the import's process died
    deadline = time.monotonic() + 30
    while (alive := [pid for pid in helpers if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive


def _alive(pid: int) -> bool:
    """Is the process there and not a zombie (an orphan's exit status waits for whoever adopted it)?"""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
