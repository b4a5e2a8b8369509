"""The web designer in headless Chromium, driven the way a business admin drives it: click and type.

1. From an empty workspace bundle, build a six-field customer form (a select,
   money, a `visible_if`), add an A/B/C tier table, try it in the tester,
   read the impact matrix on 1,000 existing records, publish; then a rep fills
   the new form and gets tier A.
2. Import a YAML bundle a consultant wrote with comments, change it in the
   visual editor, export it: the comments and key order are still there.
3. An invalid expression shows its error under the right column, and the
   draft cannot be published.
4. Sections: "add section" in the palette, a field put in it from the
   property panel and another dragged under its heading; the rep's form on a
   phone shows the section as a fieldset.
5. A `changed` automation's condition may read `old.` values (checked and
   completed as such); a `created` one may not.

Screenshots of the builder, its sections, the rules editor and the impact
preview go to docs/screenshots/ (linked from the README).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
#: Every tenth record's 年采购额 is 0, 250,000 ... 2,250,000: tiers A 600, B 300, C 100 under the new table.
REVENUES = [(i % 10) * 250_000 for i in range(1000)]


@pytest.fixture
def server(live_server, frozen):
    return live_server


def _login(browser, base, username, password, width=1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/(o/\w+/)?$"))
    return page


def _open(page, url):
    """Go to a studio page and wait until it shows the draft."""
    page.goto(url)
    page.wait_for_selector("html[data-studio-ready]", state="attached")


def _settled(page, timeout=30.0):
    """Wait until every edit has been sent and every reply has arrived (polled: the CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout
    while page.evaluate("document.documentElement.dataset.studioBusy") != "0":
        assert time.monotonic() < deadline, "the studio page kept waiting for the server"
        page.wait_for_timeout(50)


def _type_expression(page, holder, text):
    """Replace the expression in the CodeMirror editor inside `holder` by typing `text`."""
    box = page.locator(f"{holder} .cm-content")
    box.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text)
    page.keyboard.press("Escape")  # close the completion list
    _settled(page)


def _add_field(page, type_label, label):
    page.click(f'#palette >> text="{type_label}"')
    _settled(page)
    page.locator("#prop-label").fill(label)
    _settled(page)


def _shoot(page, name):
    """A full-page screenshot for docs/screenshots, taken from the top (the top bar is sticky)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / name), full_page=True)


def _draft(page):
    return page.evaluate("fetch('/studio/api/draft').then(r => r.json())")


def _impact_of_a_new_field(page, server):
    """A money field added to the customer in the draft, then the impact page open on it."""
    _open(page, f"{server}/studio/yaml")
    page.evaluate("""fetch('/studio/api/draft/ops', {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify({ops: [
        {op: 'insert', path: ['objects', 'customer', 'fields', 8], value: {key: 'budget', type: 'money', label: '预算'}}]})})""")
    _open(page, f"{server}/studio/impact")
    page.locator('.matrix[data-key="tier"]').wait_for(timeout=60_000)


def _insert_records(app, revenues):
    """1,000 customers written straight to the records table (the SQL path), as an import from an old system would."""
    from designer.db import transaction
    from designer.models import Record
    with app.app_context(), transaction(app) as s:
        s.add_all([Record(object="customer", owner="alice", title=f"客户{i:04d}",
                          data={"ke_hu_ming_cheng": f"客户{i:04d}", "nian_cai_gou_e": amount})
                   for i, amount in enumerate(revenues)])


def test_build_form_and_tiers_test_preview_publish_then_a_rep_gets_tier_a(app, server, browser, make_user,
                                                                           monkeypatch):
    alice_password = make_user("alice")
    _insert_records(app, REVENUES)
    admin = _login(browser, server, "admin", make_user("admin", role="admin"))
    _open(admin, f"{server}/studio/")
    assert admin.locator("#field-list-empty").is_visible()
    assert _draft(admin)["document"]["objects"]["customer"]["fields"] == []

    _add_field(admin, "单行文本", "客户名称")
    assert admin.input_value("#prop-key") == "ke_hu_ming_cheng"  # derived from the label in pinyin
    admin.check("#prop-required")
    _add_field(admin, "单选", "阶段")
    options = admin.locator("#prop-options input")
    options.nth(0).fill("潜在")
    options.nth(1).fill("成交")
    admin.click("#prop-add-option")
    admin.locator("#prop-options input").nth(2).fill("流失")
    _add_field(admin, "多行文本", "流失原因")
    _type_expression(admin, "#prop-visible_if", "jie_duan == '流失'")
    _add_field(admin, "金额", "年采购额")
    admin.fill("#prop-min", "0")
    _add_field(admin, "手机", "手机号")
    _add_field(admin, "日期", "最近下单")
    _settled(admin)
    assert admin.locator("#field-list .field-item").count() == 6
    preview = admin.locator("#preview")
    assert preview.locator("select#pv-jie_duan option").all_inner_texts() == ["—", "潜在", "成交", "流失"]
    assert "当 jie_duan == '流失' 时显示" in preview.inner_text()
    fields = _draft(admin)["document"]["objects"]["customer"]["fields"]
    assert [(f["key"], f["type"]) for f in fields] == [
        ("ke_hu_ming_cheng", "text"), ("jie_duan", "select"), ("liu_shi_yuan_yin", "textarea"),
        ("nian_cai_gou_e", "money"), ("shou_ji_hao", "phone"), ("zui_jin_xia_dan", "date")]
    assert fields[0]["required"] is True and fields[3]["min"] == 0
    assert fields[2]["visible_if"] == "jie_duan == '流失'"
    admin.click('#field-list .field-item[data-key="liu_shi_yuan_yin"] .pick')
    admin.locator("#prop-visible_if .cm-content").wait_for()
    _shoot(admin, "studio-builder.png")

    admin.click('.studio-tabs >> text="规则"')
    admin.click("#add-classification")
    card = admin.locator('.rule-card[data-kind="classification"]')
    card.wait_for()
    card.locator('input[id$="-label"]').first.fill("客户等级")
    for n, (when, value, why) in enumerate([("nian_cai_gou_e >= 1000000", "A", "年采购额百万以上"),
                                            ("nian_cai_gou_e >= 200000", "B", "年采购额二十万以上")]):
        card.locator(".add-row").click()
        row = card.locator("li.row").nth(n)
        row.wait_for()
        _type_expression(admin, f'#{row.locator(".expr-field").get_attribute("id")}', when)
        row.locator('input[id$="-value"]').fill(value)
        row.locator('input[id$="-label"]').fill(why)
        _settled(admin)
    card.locator('input[id$="-default"]').fill("C")
    _settled(admin)
    tier = _draft(admin)["document"]["classifications"][0]
    assert tier["key"] == "tier" and tier["default"] == "C"
    assert [(r["when"], r["value"]) for r in tier["rules"]] == [("nian_cai_gou_e >= 1000000", "A"),
                                                                ("nian_cai_gou_e >= 200000", "B")]
    assert admin.locator("#studio-problem-count").inner_text() == "没有问题"
    _shoot(admin, "studio-rules.png")

    admin.click('.studio-tabs >> text="试运行"')
    admin.fill("#tv-ke_hu_ming_cheng", "华东精密机械有限公司")
    admin.fill("#tv-nian_cai_gou_e", "1500000")
    admin.click("#run-typed")
    result = admin.locator('.test-class[data-key="tier"]')
    result.wait_for()
    assert result.locator(".test-value").inner_text() == "A"
    assert [row.locator("td").first.inner_text() for row in result.locator("tr.held").all()] == ["1", "2"]
    assert result.locator(".because").first.inner_text() == "A：命中规则 1「年采购额百万以上」；依据：年采购额 = 1,500,000"

    from designer.studio import previewing
    monkeypatch.setattr(previewing, "WAIT", 0)  # the page follows the preview's job until its result is there
    polled = []
    admin.on("request", lambda r: polled.append(r.url) if "/studio/api/impact/" in r.url else None)
    admin.click('.studio-tabs >> text="影响预览与发布"')
    matrix = admin.locator('.matrix[data-key="tier"]')
    matrix.wait_for(timeout=60_000)
    cells = {(c.get_attribute("data-from"), c.get_attribute("data-to")): int(c.inner_text().replace(",", ""))
             for c in matrix.locator("td[data-to]").all() if c.inner_text().strip() not in ("", "0")}
    assert cells == {("", "A"): 600, ("", "B"): 300, ("", "C"): 100} and polled
    _shoot(admin, "studio-impact.png")

    admin.fill("#publish-note", "首个客户表单与 A/B/C 分级")
    admin.click("#publish")
    dialog = admin.locator("dialog.studio-dialog")
    assert "600" in dialog.inner_text()  # the confirmation repeats the summary
    dialog.locator('button[value="ok"]').click()
    admin.locator("#published").wait_for(timeout=60_000)
    versions = admin.evaluate("fetch('/studio/api/versions').then(r => r.json())")
    assert [(v["published_by"], v["note"]) for v in versions] == [("admin", "首个客户表单与 A/B/C 分级")]
    assert admin.errors == []

    rep = _login(browser, server, "alice", alice_password, width=390)
    rep.goto(f"{server}/o/customer/new")
    rep.locator('.field[data-field="liu_shi_yuan_yin"]').wait_for(state="hidden")
    rep.fill("#ke_hu_ming_cheng", "杭州智云科技有限公司")
    rep.fill("#nian_cai_gou_e", "1,200,000")
    rep.click("button.primary")
    rep.wait_for_url(f"{server}/r/*")
    assert rep.locator("#why .badge.t0").first.inner_text() == "A"


COMMENTED = """\
# 顾问写的业务包：注释和键的顺序必须保留
bundle: commented
title: 带注释的业务包
objects:
  customer:
    label: 客户
    title: name
    fields:
      # 客户名称按公司名查重
      - {key: name, type: text, label: 客户名称, required: true}
      - {key: phone, type: phone, label: 手机号}   # 手机号可以为空
classifications:
  - key: tier
    object: customer
    rules:
      - {when: "phone is not empty", value: A}   # 有电话的优先跟进
    default: B
"""


def test_commented_yaml_edited_visually_exports_with_comments(app, server, browser, make_user, tmp_path):
    admin = _login(browser, server, "admin", make_user("admin", role="admin"))
    _open(admin, f"{server}/studio/")
    assert admin.locator("#field-list-empty").is_visible()
    upload = tmp_path / "commented.yaml"
    upload.write_text(COMMENTED, "utf-8")
    admin.set_input_files("#import-file", str(upload))
    admin.click('dialog.studio-dialog button[value="ok"]')  # the unpublished skeleton draft is replaced: confirmed
    admin.locator('#field-list .field-item[data-key="phone"]').wait_for()
    admin.click('#field-list .field-item[data-key="phone"] .pick')
    admin.fill("#prop-label", "联系电话")
    admin.fill("#prop-help", "座机或手机")
    _settled(admin)
    assert admin.input_value("#prop-key") == "phone"  # an existing key does not follow the label
    with admin.expect_download() as download:
        admin.click("#export")
    exported = Path(download.value.path()).read_text("utf-8")
    for comment in ("# 顾问写的业务包：注释和键的顺序必须保留", "# 客户名称按公司名查重", "# 手机号可以为空", "# 有电话的优先跟进"):
        assert comment in exported
    assert "联系电话" in exported and "座机或手机" in exported and "label: 手机号" not in exported
    keys = [line.split(":")[0] for line in exported.splitlines() if re.match(r"^[a-z]", line)]
    assert keys == ["bundle", "title", "objects", "classifications"]
    assert admin.errors == []


def test_invalid_expression_shows_its_column_and_cannot_be_published(app, server, browser, make_user, publish):
    publish(DATA / "crm.bundle.yaml")
    admin = _login(browser, server, "admin", make_user("admin", role="admin"))
    _open(admin, f"{server}/studio/")
    admin.click('#field-list .field-item[data-key="lost_reason"] .pick')
    text = "stage == '流失' and anual_revenue > 5"
    _type_expression(admin, "#prop-visible_if", text)
    error = admin.locator("#prop-visible_if .expr-error")
    error.wait_for()
    column = text.index("anual_revenue") + 1
    assert int(error.get_attribute("data-col")) == column
    assert error.locator("mark").inner_text() == "anual_revenue"
    assert error.locator(".pad").text_content() == text[:column - 1]  # the caret line sits under that column
    assert "annual_revenue" in error.locator(".expr-message").inner_text()  # did you mean
    assert admin.locator("#prop-visible_if .cm-lintRange-error").inner_text() == "anual_revenue"

    admin.click('.studio-tabs >> text="影响预览与发布"')
    problems = admin.locator("#impact-problems li")
    problems.first.wait_for()
    assert "anual_revenue" in problems.first.inner_text()
    assert admin.locator("#publish").is_disabled()
    refused = admin.evaluate("""fetch('/studio/api/publish', {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify({note: 'x'})})
        .then(r => r.status)""")
    assert refused == 400
    versions = admin.evaluate("fetch('/studio/api/versions').then(r => r.json())")
    assert len(versions) == 1
    assert json.dumps(admin.errors) == "[]"


def test_sections_made_in_the_builder_group_the_reps_form(app, server, browser, make_user, publish, tmp_path):
    publish(DATA / "crm.bundle.yaml")
    alice_password = make_user("alice")
    admin = _login(browser, server, "admin", make_user("admin", role="admin"))
    _open(admin, f"{server}/studio/")

    admin.click("#add-section")  # "add section" in the palette: name it, then fields go under its heading
    admin.fill("#section-name", "联系方式")
    admin.click('dialog.studio-dialog button[value="ok"]')
    admin.locator('#field-list .section-head[data-section="联系方式"]').wait_for()
    admin.click('#palette [data-field-type="email"]')
    _settled(admin)
    admin.locator("#prop-label").fill("邮箱")
    _settled(admin)
    admin.click('#field-list .field-item[data-key="phone"] .pick')  # choose the section in the property panel
    admin.select_option("#prop-section", "联系方式")
    _settled(admin)
    region = admin.locator('#field-list .field-item[data-key="region"] .handle')  # drag a field under the heading
    region.drag_to(admin.locator('#field-list .field-item[data-key="phone"]'))
    _settled(admin)

    fields = _draft(admin)["document"]["objects"]["customer"]["fields"]
    grouped = [f["key"] for f in fields if f.get("section") == "联系方式"]
    assert sorted(grouped) == ["phone", "region", "you_xiang"] and [f["key"] for f in fields][-3:] == grouped
    assert admin.locator("#field-list .section-head .section-name").all_inner_texts() == ["无分组", "联系方式"]
    legend = admin.locator("#preview fieldset.form-section legend")
    assert legend.all_inner_texts() == ["联系方式"]
    assert admin.locator('#preview fieldset.form-section [data-field="phone"]').count() == 1
    _shoot(admin, "studio-sections.png")
    assert admin.evaluate("""fetch('/studio/api/publish', {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify({note: '联系方式分组'})})
        .then(r => r.status)""") == 200
    assert admin.errors == []

    rep = _login(browser, server, "alice", alice_password, width=390)
    rep.goto(f"{server}/o/customer/new")
    section = rep.locator("fieldset.form-section")
    assert section.locator("legend").all_inner_texts() == ["联系方式"]
    assert [f.get_attribute("data-field") for f in section.locator(".field").all()] == grouped
    assert section.bounding_box()["width"] <= 390  # readable on a phone: no sideways scrolling
    rep.screenshot(path=str(tmp_path / "form-sections-phone.png"), full_page=True)
    rep.fill("#name", "分组测试公司")
    rep.fill("#phone", "13900001111")
    rep.click("button.primary")
    rep.wait_for_url(f"{server}/r/*")
    assert rep.locator("h3.section-heading").all_inner_texts() == ["联系方式"]
    assert rep.errors == []


def test_a_changed_automation_may_read_old_values_in_the_rules_editor(app, server, browser, make_user, publish):
    publish(DATA / "crm.bundle.yaml")
    admin = _login(browser, server, "admin", make_user("admin", role="admin"))
    _open(admin, f"{server}/studio/rules")
    admin.click('#s-automations .actions button >> text="新建自动化"')
    admin.locator("#b-automations-0-on").wait_for()
    text = "old.tier == 'A' and tier == 'B'"
    _type_expression(admin, "#b-automations-0-when", text)
    error = admin.locator("#b-automations-0-when .expr-error")
    error.wait_for()  # a `created` automation has no old values
    assert "changed" in error.locator(".expr-message").inner_text()

    admin.select_option("#b-automations-0-on", "changed")
    _settled(admin)
    assert _draft(admin)["document"]["automations"][0]["when"] == text
    assert not [p for p in _draft(admin)["problems"] if p["path"].startswith("automations[0].when")]
    box = admin.locator("#b-automations-0-when .cm-content")
    box.click()
    admin.keyboard.press("End")
    admin.keyboard.type(" and old.ti")  # completions offer the old values too
    option = admin.locator(".cm-tooltip-autocomplete li", has_text="old.tier")
    option.first.wait_for()
    admin.keyboard.press("Escape")
    admin.keyboard.type("er != tier")
    _settled(admin)
    admin.wait_for_timeout(600)  # the editor checks 250 ms after the last keystroke
    _settled(admin)
    assert admin.locator("#b-automations-0-when .expr-error").count() == 0
    assert _draft(admin)["document"]["automations"][0]["when"] == text + " and old.tier != tier"
    assert admin.errors == []


def test_a_long_publish_shows_its_progress_and_survives_a_reload(app, server, browser, make_user, publish, monkeypatch):
    """A publish longer than the request waits: the page follows the job (phase, count, a bar), a reload
    picks it up again, and the version shows when it is done."""
    import threading

    from designer.bundles import publishing
    publish(DATA / "crm.bundle.yaml")
    real, go = publishing.publish, threading.Event()

    def slow(session, *args, progress, **kwargs):
        progress("reclassify", 40_000, 120_000)
        assert go.wait(60)
        return real(session, *args, progress=progress, **kwargs)

    monkeypatch.setattr(publishing, "publish", slow)
    monkeypatch.setattr(publishing, "WAIT", 0.1)
    admin = _login(browser, server, "admin", make_user("admin", role="admin"), width=390)
    _impact_of_a_new_field(admin, server)
    admin.fill("#publish-note", "加预算字段")
    try:
        admin.click("#publish")
        admin.locator('dialog.studio-dialog button[value="ok"]').click()
        phase = admin.locator("#publish-phase")
        phase.filter(has_text="40,000").wait_for()  # (the page's CSP allows no string predicates)
        assert phase.inner_text() == "发布中（admin）：已重新分级 40,000 / 120,000 条记录…"
        assert admin.locator("#publish-progress progress").evaluate("p => [p.value, p.max]") == [40_000, 120_000]
        assert admin.locator("#publish").is_disabled()
        _shoot(admin, "studio-publishing.png")

        admin.reload()  # the admin leaves and comes back: the page finds the running publish
        phase.filter(has_text="40,000").wait_for()
    finally:
        go.set()  # never leave the publish's thread (and its connection) waiting after the test
    admin.locator("#published").wait_for(timeout=60_000)
    assert "v2" in admin.locator("#published").inner_text()
    assert admin.locator("#publish-progress").is_hidden()
    assert admin.errors == []


def test_after_a_large_publish_the_page_follows_the_workers_planning(app, server, browser, make_user, publish,
                                                                     frozen, monkeypatch):
    """Beyond `schedule.INLINE` records the publish leaves the planning to the workers' chain: the page shows
    its count after the version, and its end."""
    from sqlalchemy import select

    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.models import Firing
    from designer.workflows import replan, schedule
    from designer.workflows.worker import run_one

    from .test_replan import SOURCE, _load_template, _run_links
    publish(SOURCE)
    _load_template(app, "manufacturing")
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "CHUNK", 25)
    admin = _login(browser, server, "admin", make_user("admin", role="admin"), width=390)
    _impact_of_a_new_field(admin, server)
    admin.click("#publish")
    admin.locator('dialog.studio-dialog button[value="ok"]').click()
    admin.locator("#published").wait_for(timeout=60_000)
    text = admin.locator("#planning-text")
    text.filter(has_text="0 / ").wait_for()
    assert text.inner_text().startswith("正在按 v2 重新安排提醒与回收：0 / ")
    admin.locator("#planning").scroll_into_view_if_needed()
    admin.screenshot(path=str(SHOTS / "studio-planning.png"))  # the page's end, where the count is

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:  # the next link fails once: the page says why and when it is tried again
        m.setattr(replan, "published_after", broken)
        with transaction(app) as s:
            link = s.scalar(select(Firing).where(Firing.kind == replan.KIND, Firing.status == "pending"))
            assert run_one(s, current(s), link, frozen) == "retried"
            retry_at = link.due_at
    failing = admin.locator("#planning-failing")
    failing.filter(has_text="disk full").wait_for()
    assert failing.inner_text().startswith("后台无法继续：RuntimeError: disk full。它将在 ")
    _run_links(app, retry_at)
    text.filter(has_text="全部记录").wait_for()
    assert text.inner_text().startswith("已按 v2 为全部记录（")
    assert failing.is_hidden()
    assert admin.errors == []
