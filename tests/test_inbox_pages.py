"""A rep's own pages: 今日待跟进 (due today and overdue, in the bundle's timezone), the inbox, open tasks.

The clock is frozen at 2026-03-15 10:00 Asia/Shanghai (the bundle's zone), which is 02:00 UTC: a follow-up
due at 00:30 on the 16th local time falls on the 15th in UTC, and must not count as today.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from designer.db import transaction
from designer.models import Notification, Record, Task

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SH = ZoneInfo("Asia/Shanghai")

#: title, owner, follow-up due (local time, None: none due), what 今日待跟进 shows for alice (None: not listed)
RECORDS = [
    ("上周逾期客户", "alice", datetime(2026, 3, 8, 9), "overdue"),
    ("昨晚逾期客户", "alice", datetime(2026, 3, 14, 23, 59), "overdue"),
    ("今晨到期客户", "alice", datetime(2026, 3, 15, 0, 0), "today"),
    ("今晚到期客户", "alice", datetime(2026, 3, 15, 23, 59), "today"),
    ("明日凌晨客户", "alice", datetime(2026, 3, 16, 0, 30), None),
    ("无需跟进客户", "alice", None, None),
    ("鲍勃的客户", "bob", datetime(2026, 3, 15, 9), None),
    ("公海客户", None, datetime(2026, 3, 14, 9), None),
]
#: title, assignee, due (local), status, shown on 今日待跟进, shown on the task list
TASKS = [
    ("逾期任务", "alice", datetime(2026, 3, 13, 18), "open", True, True),
    ("今日任务", "alice", datetime(2026, 3, 15, 18), "open", True, True),
    ("明日任务", "alice", datetime(2026, 3, 16, 10), "open", False, True),
    ("无期限任务", "alice", None, "open", False, True),
    ("已完成任务", "alice", datetime(2026, 3, 15, 9), "done", False, False),
    ("鲍勃的任务", "bob", datetime(2026, 3, 15, 9), "open", False, False),
]
#: text, recipient, created (local), read
NOTES = [
    ("较早的未读提醒", "alice", datetime(2026, 3, 14, 9), False),
    ("最新的已读提醒", "alice", datetime(2026, 3, 15, 9, 30), True),
    ("最新的未读提醒", "alice", datetime(2026, 3, 15, 9), False),
    ("给鲍勃的提醒", "bob", datetime(2026, 3, 15, 9), False),
]


def _at(local):
    return local.replace(tzinfo=SH) if local is not None else None


@pytest.fixture
def world(app, publish, make_user):
    """The records, tasks and notifications above; returns title -> id."""
    publish(BUNDLE)
    make_user("boss", role="manager")
    ids = {}
    with app.app_context(), transaction(app) as s:
        for title, owner, due, _shown in RECORDS:
            record = Record(object="customer", owner=owner, pool=None if owner else "public", title=title,
                            data={"name": title}, followup_due_at=_at(due))
            s.add(record)
            s.flush()
            ids[title] = record.id
        for title, assignee, due, status, _today, _listed in TASKS:
            task = Task(record_id=ids["上周逾期客户"], assignee=assignee, title=title, due_at=_at(due), status=status,
                        cause="follow-up cadence", key=f"task:{title}")
            s.add(task)
            s.flush()
            ids[title] = task.id
        for text, username, created, read in NOTES:
            note = Notification(username=username, record_id=ids["昨晚逾期客户"], kind="reminder", text=text,
                                key=f"note:{text}", created_at=_at(created), read_at=_at(created) if read else None)
            s.add(note)
            s.flush()
            ids[text] = note.id
    return ids


def _items(page: str) -> list[tuple[str, str]]:
    """(class of the <li>, its text without tags) for every list item on the page."""
    return [(cls or "", re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip())
            for cls, body in re.findall(r'<li(?: class="([^"]*)")?>(.*?)</li>', page, re.S)]


def test_today_lists_own_due_and_overdue_records_in_the_bundle_timezone(world, login):
    alice = login("alice", manager="boss")
    response = alice.get("/today")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    listed = [(cls, text) for cls, text in _items(page) if "客户" in text.split(" ")[0]]
    expected = [(t, shown) for t, _o, _d, shown in RECORDS if shown]
    assert [text.split(" ")[0] for _cls, text in listed] == [t for t, _s in expected]  # by due time, overdue first
    for (cls, text), (title, shown) in zip(listed, expected):
        assert ("overdue" in cls) == (shown == "overdue"), title
        assert ("逾期" in text) == (shown == "overdue"), text
    assert "2026-03-14 23:59" in page and "2026-03-15 00:00" in page  # local wall-clock times
    for title, _o, _d, shown in RECORDS:
        assert (f'href="/r/{world[title]}"' in page) == bool(shown), title
    tasks = [text.split(" ")[0] for _cls, text in _items(page) if "任务" in text.split(" ")[0]]
    assert tasks == [t for t, *_r, today, _l in TASKS if today]
    assert "4 条跟进到期，其中 2 条已逾期" in page


def test_others_see_only_their_own(world, login):
    boss = login("boss2", role="manager")
    page = boss.get("/today").get_data(as_text=True)
    assert not any(title in page for title, *_r in RECORDS)
    bob = login("bob")
    page = bob.get("/today").get_data(as_text=True)
    assert "鲍勃的客户" in page and "鲍勃的任务" in page and "上周逾期客户" not in page.split("<h2")[1]
    inbox = bob.get("/inbox").get_data(as_text=True)
    assert "给鲍勃的提醒" in inbox and "最新的未读提醒" not in inbox


def test_tasks_lists_open_tasks_and_marks_them_done(world, login, app):
    alice = login("alice")
    page = alice.get("/tasks").get_data(as_text=True)
    titles = [text.split(" ")[0] for _cls, text in _items(page)]
    assert titles == [t for t, *_r, listed in TASKS if listed]  # due first, undated last
    bob = login("bob")
    assert bob.post(f"/tasks/{world['今日任务']}/done").status_code == 404
    response = alice.post(f"/tasks/{world['今日任务']}/done", data={"next": "/today"})
    assert response.status_code == 302 and response.headers["Location"] == "/today"
    assert alice.post(f"/tasks/{world['今日任务']}/done").status_code == 302  # twice: still done, no error
    with app.app_context(), transaction(app) as s:
        task = s.get(Task, world["今日任务"])
        assert task.status == "done" and task.done_at is not None
    page = alice.get("/tasks").get_data(as_text=True)
    assert "任务已完成：今日任务" in page  # the flash
    assert "今日任务" not in [text.split(" ")[0] for _cls, text in _items(page)]
    assert alice.post("/tasks/999999/done").status_code == 404


def test_inbox_shows_unread_first_and_marks_read(world, login, app):
    alice = login("alice")
    page = alice.get("/inbox").get_data(as_text=True)
    items = [(cls, text.split(" ")[0]) for cls, text in _items(page)]
    assert items == [("unread", "最新的未读提醒"), ("unread", "较早的未读提醒"), ("read", "最新的已读提醒")]
    assert re.search(r'收件箱 <span class="count"[^>]*>2</span>', page)  # the top bar's badge
    bob = login("bob")
    assert bob.post(f"/inbox/{world['最新的未读提醒']}/read").status_code == 404
    assert alice.post(f"/inbox/{world['最新的未读提醒']}/read").status_code == 302
    page = alice.get("/inbox").get_data(as_text=True)
    assert [c for c, _t in _items(page)] == ["unread", "read", "read"]
    assert re.search(r'收件箱 <span class="count"[^>]*>1</span>', page)
    assert alice.post("/inbox/read-all").status_code == 302
    page = alice.get("/inbox").get_data(as_text=True)
    assert [c for c, _t in _items(page)] == ["read", "read", "read"] and 'class="count"' not in page
    with app.app_context(), transaction(app) as s:
        assert s.scalar(select(Notification.read_at).where(Notification.username == "bob")) is None


def test_posts_need_the_csrf_token(world, login, app):
    alice = login("alice")
    app.config["WTF_CSRF_ENABLED"] = True
    assert alice.post("/inbox/read-all").status_code == 400
    assert alice.post(f"/tasks/{world['今日任务']}/done").status_code == 400
    with app.app_context(), transaction(app) as s:
        assert s.get(Task, world["今日任务"]).status == "open"
        assert s.get(Notification, world["最新的未读提醒"]).read_at is None


def test_pages_work_before_any_bundle_is_published(login):
    alice = login("alice")
    for path in ("/today", "/inbox", "/tasks"):
        assert alice.get(path).status_code == 200, path


def test_anonymous_users_are_sent_to_login(app):
    response = app.test_client().get("/today")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def server(world, live_server):
    return live_server


def test_pages_fit_a_phone_and_mark_done_works_there(server, browser, make_user):
    password = make_user("alice")
    context = browser.new_context(viewport={"width": 360, "height": 780}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("#username", "alice")
    page.fill("#password", password)
    page.click("button.primary")
    for path in ("/today", "/inbox", "/tasks"):
        page.goto(server + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width}px wide on a 360px phone"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"inbox{path.replace('/', '-')}.png"), full_page=True)
    page.goto(server + "/today")
    assert page.locator("li.overdue").count() == 3  # two records and one task
    assert page.locator("li.overdue .title").first.evaluate("e => getComputedStyle(e).color") == "rgb(196, 50, 10)"
    page.locator("li", has_text="今日任务").get_by_role("button").click()
    page.wait_for_url(f"{server}/today")
    assert "今日任务" not in page.locator("ul.tasks").inner_text()
    assert page.locator(".flash.ok").inner_text().startswith("任务已完成")
    context.close()
