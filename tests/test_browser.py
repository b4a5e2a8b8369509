"""The real page in headless Chromium (Debian's), driven as a rep would: click, type, look.

A rep logs in, picks 流失 so the hidden 流失原因 field appears (live, no reload),
saves, and sees the tier and why; a second rep gets 404 on that record's URL;
an edit made on a stale page is refused and the rep's input is kept.
"""
from __future__ import annotations

from pathlib import Path

import pytest

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture
def server(publish, live_server):
    publish(BUNDLE)
    return live_server


def _login(browser, base, username, password):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button.primary")
    page.wait_for_url(f"{base}/o/customer/")
    return page


def test_rep_fills_form_sees_tier_then_others_are_kept_out(server, browser, make_user):
    alice = _login(browser, server, "alice", make_user("alice"))
    alice.click("text=新建")
    reason = alice.locator('.field[data-field="lost_reason"]')
    reason.wait_for(state="hidden")
    alice.fill("#name", "华东精密机械有限公司")
    alice.fill("#annual_revenue", "1,200,000")
    alice.select_option("#stage", "流失")
    reason.wait_for(state="visible")  # appeared without a reload
    assert "required" in reason.get_attribute("class")
    alice.click("button.primary")
    assert alice.locator(".field.has-error").count() == 1  # 流失原因 is required now
    alice.fill("#lost_reason", "价格")
    alice.click("button.primary")
    alice.wait_for_url(f"{server}/r/*")
    why = alice.locator("#why")
    assert why.locator(".badge.t0").first.inner_text() == "A"
    assert "命中规则 1" in why.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SHOTS / "record-phone.png"), full_page=True)
    record_url = alice.url

    bob = _login(browser, server, "bob", make_user("bob"))
    response = bob.goto(record_url)
    assert response.status == 404

    first = alice
    first.goto(record_url + "/edit")
    second = alice.context.new_page()
    second.goto(record_url + "/edit")
    first.fill("#annual_revenue", "5")
    first.click("button.primary")
    first.wait_for_url(record_url)
    second.fill("#annual_revenue", "7")
    second.click("button.primary")
    assert "其他人已修改" in second.locator(".flash.error").inner_text()
    assert second.input_value("#annual_revenue") == "7"
    first.goto(record_url)
    assert "¥5.00" in first.inner_text("body")
