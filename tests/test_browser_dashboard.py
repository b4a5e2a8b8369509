"""From a file to a dashboard in headless Chromium (Debian's), as an admin would: import a CSV with Chinese
headings through the import page, map the column the guess left out, check the option a value that is none
was taken for, watch the progress bar reach the end, open
the dashboards and read the tier distribution from the page; then narrow the dates (the URL follows), and export
a chart as PNG and as CSV."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

BUNDLE = Path(__file__).parent / "data" / "dashboards.bundle.yaml"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
#: revenue -> tier: 5 A (1,000,000 and more), 10 B (100,000 and more), 15 C
REVENUES = [2_000_000] * 5 + [300_000] * 10 + [20_000] * 15


@pytest.fixture
def server(app, publish, live_server):
    publish(BUNDLE)
    app.config["IMPORT_BATCH_SIZE"] = 5  # several batches, so the bar moves
    return live_server


def _file(tmp_path) -> Path:
    path = tmp_path / "客户名单.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        w = csv.writer(out)
        w.writerow(["客户名称", "销售阶段", "预算"])  # 预算 matches no field: the admin maps it by hand
        for i, revenue in enumerate(REVENUES):
            w.writerow([f"导入测试{i:02d}号机械有限公司", ["线索", "商机", "已成交"][i % 3], revenue])  # 已成交: no option
    return path


def test_import_then_read_the_tier_distribution(server, browser, make_user, tmp_path, frozen):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = []  # script errors, and anything the pages asked for and did not get (there is no favicon)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.text
            and "Failed to load resource" not in m.text else None)
    page.goto(f"{server}/login")
    page.fill("#username", "admin")
    page.fill("#password", make_user("admin", "admin"))
    page.click("button.primary")
    page.wait_for_url(f"{server}/o/customer/")

    page.goto(f"{server}/o/customer/import")
    page.set_input_files("#file", str(_file(tmp_path)))
    page.click("button.primary")
    page.wait_for_url(f"{server}/import/*/map")
    assert page.input_value("#c0") == "name" and page.input_value("#c1") == "stage"
    assert page.input_value("#c2") == ""  # 预算: not guessed
    page.select_option("#c2", "annual_revenue")
    page.click('button[value="preview"]')
    assert page.input_value("#c2") == "annual_revenue"
    values = page.locator("#values")  # 已成交 is no option of 销售阶段: 成交 is preselected, to be checked
    assert values.locator("label").all_inner_texts() == ["已成交"]
    assert page.input_value("#vc1-0") == "成交" and values.locator("#vc1-0-guess").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    values.screenshot(path=str(SHOTS / "import-values.png"))
    page.click('button[value="run"]')
    page.wait_for_url(f"{server}/import/*")
    bar = page.locator("#import-progress progress")
    page.wait_for_function("() => { const b = document.querySelector('#import-progress progress');"
                           " return b && b.max == 30 && b.value == 30; }", timeout=60_000)
    page.wait_for_selector('#import-progress[data-status="done"]', timeout=60_000)
    assert page.locator('[data-k="imported"]').inner_text() == "30"
    assert bar.get_attribute("value") == "30"

    page.click("header nav >> text=看板")
    page.wait_for_url(f"{server}/dashboards/")
    page.wait_for_selector('body[data-dashboard="ready"]')
    table = page.locator("#table-distribution tbody tr")
    read = {row.locator("th").inner_text(): int(row.locator("td").inner_text()) for row in table.all()}
    assert read == {"A": 5, "B": 10, "C": 15}
    assert page.locator("#chart-distribution .chart canvas").count() >= 1  # ECharts drew it
    funnel = {row.locator("th").inner_text(): int(row.locator("td").inner_text())
              for row in page.locator("#table-funnel tbody tr").all()}
    assert funnel == {"线索": 10, "商机": 10, "成交": 10, "流失": 0}
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

    # a range before the import: the trend has no records yet, and the URL says so for sharing
    page.fill('input[name="from"]', "2026-01-01")
    page.fill('input[name="to"]', "2026-02-28")
    page.click("#dashboard-filters button[type=submit]")
    page.wait_for_url(f"{server}/dashboards/?from=2026-01-01&to=2026-02-28*")
    page.wait_for_selector('body[data-dashboard="ready"]')
    last = page.locator("#table-trend tbody tr").last.locator("td").all_inner_texts()
    assert last == ["0", "0", "0"]
    page.reload()
    assert page.input_value('input[name="from"]') == "2026-01-01"

    with page.expect_download() as png:
        page.click("#chart-distribution button.png")
    assert png.value.suggested_filename == "distribution-2026-01-01-2026-02-28.png"
    assert png.value.path().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as sheet:
        page.click("#chart-distribution a.csv")
    text = Path(sheet.value.path()).read_text("utf-8-sig")
    assert "A,5" in text and "C,15" in text
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, charts redrawn to fit
    page.goto(f"{server}/dashboards/")
    page.wait_for_selector('body[data-dashboard="ready"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SHOTS / "dashboard-phone.png"), full_page=False)
    assert errors == []
    context.close()
