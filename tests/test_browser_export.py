"""Exporting a long list from the list page in headless Chromium (Debian's): the export runs in the background,
its page counts the records as they are written, and the file downloads by itself when it is whole."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def server(app, publish, live_server, frozen, make_user, monkeypatch):
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.exports import files
    from designer.records.store import save
    publish(BUNDLE)
    make_user("alice")
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for i in range(30):
            save(s, cur, "alice", "customer", {"name": f"导出测试{i:02d}有限公司", "stage": "成交",
                                               "annual_revenue": 1000 * i}, owner="alice", now=frozen)
    app.config["EXPORT_INLINE_ROWS"] = 10  # 30 records: a long list here
    rows = files.rows

    def slowly(*args, **kwargs):  # a record every 50 ms, so that the page sees the count grow
        for row in rows(*args, **kwargs):
            time.sleep(0.05)
            yield row
    monkeypatch.setattr(files, "rows", slowly)
    return live_server


def test_a_long_list_exports_in_the_background_and_downloads_when_written(server, browser, make_user, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/login")
    page.fill("#username", "alice")
    page.fill("#password", "pw-alice-secret")
    page.click("button.primary")
    page.wait_for_url(f"{server}/o/customer/")
    page.select_option('select[name="c.tier"]', "C")  # the list's filter goes with the export
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"{server}/o/customer/?*c.tier=C*")
    with page.expect_download(timeout=30_000) as download:
        page.click("form.export button[value=xlsx]")
        page.wait_for_url(f"{server}/export/*")
        page.wait_for_function("() => { const b = document.querySelector('#export-progress progress');"
                               " return b && b.value > 0 && b.value < b.max; }", timeout=20_000)
        page.screenshot(path=str(SHOTS / "export-running.png"))
    assert download.value.suggested_filename.startswith("客户-") and download.value.suggested_filename.endswith(".xlsx")
    saved = tmp_path / "export.xlsx"  # Playwright keeps the download under a name without a suffix
    download.value.save_as(saved)
    workbook = load_workbook(saved, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    tier = list(rows[0]).index("客户等级")
    assert rows[0][0] == "客户名称" and {r[tier] for r in rows[1:]} == {"C"}
    assert len(rows) - 1 == 30 and page.locator('[data-k="total"]').inner_text() == "30"
    assert page.locator("#export-file").is_visible() and page.locator("#export-file").inner_text() == "下载文件"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "export-done.png"))
    assert errors == []
    context.close()
