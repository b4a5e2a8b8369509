"""Automations (SPEC §7): each trigger, `old.` values, once per date value, cron across DST, every action."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from designer.bundles.workspace import current
from designer.clock import freeze
from designer.db import transaction
from designer.models import Firing, Notification, OutboxMessage, Record, Task, WorkflowEvent
from designer.records.store import save
from designer.workflows import worker
from designer.workflows.actions import render
from designer.workflows.automations import next_occurrence

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "automations_bundle.yaml"
NY = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")
T0 = datetime(2026, 3, 14, 22, tzinfo=NY)  # the fixtures' frozen instant, 2026-03-15 10:00 in Shanghai


@pytest.fixture
def world(app, publish, make_user):
    publish(BUNDLE)
    make_user("boss", role="manager")
    make_user("alice", manager="boss")
    return app


def create(app, name, at=T0, owner="alice", **values) -> int:
    with app.app_context(), freeze(at), transaction(app) as s:
        return save(s, current(s), owner, "customer", {"name": name, **values}, owner=owner, now=at).record.id


def edit(app, rid, at=T0, **values):
    with app.app_context(), freeze(at), transaction(app) as s:
        save(s, current(s), "alice", "customer", values, record=s.get(Record, rid), now=at)


def tick(app, at):
    with freeze(at):
        return worker.run(app, once=True, as_of=at)


def rows(app, model, *where):
    with app.app_context(), transaction(app) as s:
        return s.scalars(select(model).where(*where).order_by(model.id)).all()


def test_created_runs_in_the_save_with_its_cause(world):
    rid = create(world, "蓝海教育", stage="潜在", revenue="200000")
    notes = rows(world, Notification, Notification.kind == "automation")
    assert [(n.username, n.text) for n in notes] == [("alice", "新客户 蓝海教育（B 级）")]
    events = rows(world, WorkflowEvent, WorkflowEvent.record_id == rid)
    assert [(e.kind, e.rule, e.cause) for e in events] == [("automation", "welcome", "record created")]
    create(world, "老客户", stage="成交")
    assert len(rows(world, Notification, Notification.kind == "automation")) == 1  # `when` did not hold


def test_changed_reads_old_values_and_fires_only_on_its_fields(world):
    rid = create(world, "星光零售", revenue="2000000")
    edit(world, rid, note="只是备注")  # tier unchanged: nothing
    assert not rows(world, Task)
    edit(world, rid, revenue="50000")  # A -> C
    tasks = rows(world, Task)
    assert [(t.assignee, t.title, t.due_at) for t in tasks] == [("alice", "客户降级预警：星光零售", T0 + timedelta(days=2))]
    notes = rows(world, Notification, Notification.kind == "automation", Notification.username == "boss")
    assert [n.text for n in notes] == ["星光零售 从 A 降为 C"]
    event = rows(world, WorkflowEvent, WorkflowEvent.rule == "downgrade_alert")[0]
    assert event.cause == "changed: tier A → C" and event.record_id == rid
    edit(world, rid, revenue="150000")  # C -> B: `when` needs old A/B and new C
    assert len(rows(world, Task)) == 1


def test_set_webhook_and_to_pool_run_in_order_with_templates(world):
    world.config["WEBHOOK_URL"] = None
    rid = create(world, "北方制造", stage="潜在")
    edit(world, rid, stage="流失")
    with world.app_context(), transaction(world) as s:
        r = s.get(Record, rid)
        assert r.data["note"] == "流失前阶段：潜在"
        assert (r.pool, r.owner, r.previous_owner, r.pool_reason) == ("public", None, "alice", "北方制造 已流失（原阶段 潜在）")
        hook = s.scalar(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
        assert hook.target == "https://hooks.example.com/lost"
        assert hook.payload["automation"] == "lost" and hook.payload["record"]["id"] == rid
        event = s.scalar(select(WorkflowEvent).where(WorkflowEvent.rule == "lost"))
        assert event.detail["did"][0] == "set note = 流失前阶段：潜在" and "moved to pool public" in event.detail["did"]


def test_date_fires_once_per_date_value(world):
    rid = create(world, "华信医疗", contract_end="2026-05-01")
    pending = rows(world, Firing, Firing.kind == "automation_date")
    assert [(f.key, f.status, f.due_at) for f in pending] == [
        (f"date:renewal:{rid}:2026-05-01", "pending", datetime(2026, 4, 1, 9, tzinfo=NY))]
    tick(world, datetime(2026, 4, 1, 10, tzinfo=NY))
    assert [t.title for t in rows(world, Task)] == ["续约 华信医疗"]
    edit(world, rid, at=datetime(2026, 4, 2, tzinfo=NY), note="续约谈判中")  # same date value: no new firing
    tick(world, datetime(2026, 4, 3, tzinfo=NY))
    assert len(rows(world, Task)) == 1
    edit(world, rid, at=datetime(2026, 4, 5, tzinfo=NY), contract_end="2027-05-01")
    edit(world, rid, at=datetime(2026, 4, 6, tzinfo=NY), contract_end="2027-06-01")
    firings = {f.key: (f.status, f.outcome) for f in rows(world, Firing, Firing.kind == "automation_date")}
    assert firings[f"date:renewal:{rid}:2027-05-01"] == ("cancelled", "contract_end is now 2027-06-01")
    assert firings[f"date:renewal:{rid}:2027-06-01"][0] == "pending"
    tick(world, datetime(2027, 5, 3, 9, tzinfo=NY))
    assert [t.title for t in rows(world, Task)] == ["续约 华信医疗", "续约 华信医疗"]
    edit(world, rid, at=datetime(2027, 5, 4, tzinfo=NY), contract_end=None)
    assert {f.status for f in rows(world, Firing, Firing.kind == "automation_date")} == {"done", "cancelled"}


def test_a_date_firing_re_checks_the_value(world):
    """A value changed behind the planner's back is caught when the firing runs: cancelled with the reason."""
    rid = create(world, "远东航运", contract_end="2026-05-01")
    with world.app_context(), transaction(world) as s:
        r = s.get(Record, rid)
        r.data = {**r.data, "contract_end": "2026-09-01"}
    tick(world, datetime(2026, 4, 2, tzinfo=NY))
    firing = rows(world, Firing, Firing.kind == "automation_date")[0]
    assert firing.status == "cancelled" and "contract_end changed" in firing.outcome
    assert not rows(world, Task)


CRON = [
    # (cron, after (local), the next occurrences in local wall-clock time)
    ("0 9 * * 1", datetime(2026, 3, 1, 12), ["2026-03-02 09:00 EST", "2026-03-09 09:00 EDT", "2026-03-16 09:00 EDT"]),
    ("0 9 * * 1", datetime(2026, 10, 26, 12), ["2026-11-02 09:00 EST", "2026-11-09 09:00 EST"]),
    ("30 2 * * *", datetime(2026, 3, 7, 12), ["2026-03-08 03:30 EDT", "2026-03-09 02:30 EDT"]),
    ("30 1 * * *", datetime(2026, 10, 31, 12), ["2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"]),
]


@pytest.mark.parametrize("cron, after, expected", CRON, ids=[f"{c[0]} after {c[1]:%m-%d}" for c in CRON])
def test_cron_keeps_the_local_wall_clock_across_dst(cron, after, expected):
    at, got = after.replace(tzinfo=NY), []
    for _ in expected:
        at = next_occurrence(cron, NY, at)
        got.append(at.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z"))
    assert got == expected


def test_schedule_runs_over_matching_records_once_per_occurrence(world):
    big, small = create(world, "大客户", revenue="3000000"), create(world, "小客户", revenue="1000")
    pending = rows(world, Firing, Firing.kind == "automation_cron", Firing.status == "pending")
    assert [f.key for f in pending] == ["cron:weekly_visit:2026-03-16T09:00:00-04:00"]
    tick(world, datetime(2026, 3, 16, 9, 1, tzinfo=NY))
    tick(world, datetime(2026, 3, 16, 9, 2, tzinfo=NY))  # nothing new is due
    assert [(t.record_id, t.title) for t in rows(world, Task)] == [(big, "每周拜访 大客户")]
    # across the autumn DST change every occurrence still lands on Monday 09:00 local
    tick(world, datetime(2026, 11, 10, tzinfo=NY))
    done = rows(world, Firing, Firing.kind == "automation_cron", Firing.record_id == big)
    local = {f.due_at.astimezone(NY).strftime("%a %H:%M") for f in done}
    assert local == {"Mon 09:00"} and len(done) == 35
    assert len(rows(world, Task, Task.record_id == big)) == 35 and not rows(world, Task, Task.record_id == small)
    pending = rows(world, Firing, Firing.kind == "automation_cron", Firing.status == "pending")
    assert [f.due_at for f in pending] == [datetime(2026, 11, 16, 9, tzinfo=NY)]


def test_republishing_moves_the_schedule(world, publish):
    publish(BUNDLE.read_text("utf-8").replace('cron: "0 9 * * 1"', 'cron: "0 8 * * 2"'))
    cron = {f.key: f.status for f in rows(world, Firing, Firing.kind == "automation_cron")}
    assert cron == {"cron:weekly_visit:2026-03-16T09:00:00-04:00": "cancelled",
                    "cron:weekly_visit:2026-03-17T08:00:00-04:00": "pending"}


def test_publishing_plans_date_firings_for_existing_records(app, publish, make_user):
    text = BUNDLE.read_text("utf-8")
    renewal = text[text.index("  - key: renewal"):text.index("  - key: lost")]
    publish(text.replace(renewal, ""))
    make_user("alice")
    rid = create(app, "已有客户", contract_end="2026-08-01")
    assert not rows(app, Firing, Firing.kind == "automation_date")
    publish(text)
    assert [f.key for f in rows(app, Firing, Firing.kind == "automation_date")] == [f"date:renewal:{rid}:2026-08-01"]


def test_publishing_plans_date_firings_in_every_batch(app, publish, make_user, monkeypatch):
    """A workspace larger than one batch: every record is planned, not only the first batch's."""
    from designer.workflows import automations
    monkeypatch.setattr(automations, "BATCH", 2)
    text = BUNDLE.read_text("utf-8")
    renewal = text[text.index("  - key: renewal"):text.index("  - key: lost")]
    publish(text.replace(renewal, ""))
    make_user("alice")
    ids = [create(app, f"已有客户{i}", contract_end=f"2026-08-0{i + 1}") for i in range(5)]
    publish(text)
    keys = sorted(f.key for f in rows(app, Firing, Firing.kind == "automation_date"))
    assert keys == sorted(f"date:renewal:{rid}:2026-08-0{i + 1}" for i, rid in enumerate(ids))


def test_the_record_page_lists_what_automations_did(world, login):
    client = login("carol", manager="boss")
    with world.app_context(), freeze(T0), transaction(world) as s:
        rid = save(s, current(s), "carol", "customer", {"name": "页面客户", "stage": "潜在", "revenue": "2000000"},
                   owner="carol", now=T0).record.id
    edit(world, rid, revenue="1")
    page = client.get(f"/r/{rid}").get_data(as_text=True)
    assert "跟进与自动化" in page and "record created" in page and "changed: tier A → C" in page
    assert "客户降级预警：页面客户" in page


TEMPLATES = [
    ("{name} 从 {old.tier} 降为 {tier}", {"name": "甲", "tier": "C"}, {"tier": "A"}, "甲 从 A 降为 C"),
    ("{ name }：{missing}", {"name": "乙"}, None, "乙："),
    ("续约 {contract_end}", {"contract_end": datetime(2026, 5, 1).date()}, None, "续约 2026-05-01"),
    ("{tags}", {"tags": ["复购", "大客户"]}, None, "复购、大客户"),
    ("{{name}}", {"name": "丙"}, None, "{丙}"),
]


@pytest.mark.parametrize("text, values, old, expected", TEMPLATES, ids=[t[0] for t in TEMPLATES])
def test_templates_insert_values_and_nothing_else(text, values, old, expected):
    assert render(text, values, old) == expected


def test_changed_runs_after_a_time_driven_reclassification(app, publish, make_user):
    publish(DATA / "automations_time.yaml")
    make_user("alice")
    sh = ZoneInfo("Asia/Shanghai")
    rid = create(app, "沉默客户", at=datetime(2026, 3, 15, 10, tzinfo=sh))
    tick(app, datetime(2026, 3, 26, 1, tzinfo=sh))
    notes = rows(app, Notification, Notification.record_id == rid)
    assert [(n.username, n.text) for n in notes] == [("alice", "沉默客户 已从新变为沉睡")]
    event = rows(app, WorkflowEvent, WorkflowEvent.record_id == rid)[0]
    assert (event.rule, event.cause) == ("wake_up", "changed: freshness 新 → 沉睡")


PROBLEMS = __import__("yaml").safe_load((DATA / "automations_problems.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", PROBLEMS["cases"], ids=[c["name"] for c in PROBLEMS["cases"]])
def test_bundle_problems_of_pools_and_automations_are_located(case):
    from engine import BundleInvalid, load_bundle_text
    text = PROBLEMS["base"]
    if "replace" in case:
        text = text.replace(*case["replace"])
    text += case["append"]
    with pytest.raises(BundleInvalid) as exc:
        load_bundle_text(text)
    lines = str(exc.value).splitlines()
    assert any(case["expect"] in line and line.startswith("bundle.yaml:") for line in lines), lines


def test_catch_up_digest_runs_only_the_latest_missed_occurrence(app, publish, make_user):
    publish(BUNDLE.read_text("utf-8").replace('cron: "0 9 * * 1"', 'cron: "0 9 * * 1"\n    catch_up: digest'))
    make_user("alice")
    big = create(app, "大客户", revenue="3000000")
    tick(app, datetime(2026, 4, 7, tzinfo=NY))  # Mondays 3/16, 3/23, 3/30 and 4/6 were missed
    assert [t.due_at for t in rows(app, Task, Task.record_id == big)] == [datetime(2026, 4, 7, tzinfo=NY) + timedelta(days=1)]
    outcomes = [f.outcome for f in rows(app, Firing, Firing.kind == "automation_cron", Firing.record_id.is_(None),
                                        Firing.status == "done")]
    assert len(outcomes) == 4 and outcomes[-1] == "ran on 1 record(s)" and all(o.startswith("skipped") for o in outcomes[:3])


def test_deleting_a_record_cancels_its_date_firings(world):
    from designer.records.store import delete_record
    rid = create(world, "将删除", contract_end="2026-05-01")
    with world.app_context(), freeze(T0), transaction(world) as s:
        delete_record(s, current(s), "alice", s.get(Record, rid), now=T0)
    assert [(f.status, f.outcome) for f in rows(world, Firing, Firing.kind == "automation_date")] == [
        ("cancelled", "record deleted")]
