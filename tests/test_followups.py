"""Follow-up reminders on the durable schedule (SPEC §5), on SQLite and PostgreSQL.

Planned in the transaction of the change that causes them, moved by a new
activity or a tier change, cancelled (with the reason) for a deleted record,
sent to whoever owns the record when they fire, each exactly once — also
after downtime, and in bulk after a publish.
"""
from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from designer.db import transaction
from designer.models import Firing, Notification, Record, WorkflowEvent

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "followup_crm.bundle.yaml"
SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """A Shanghai wall-clock time written without its offset: '2026-04-13 09:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.fixture
def world(app, publish, make_user, frozen):
    make_user("root", "admin")
    make_user("boss", "manager")
    make_user("alice", manager="boss")
    make_user("bob", manager="boss")
    publish(BUNDLE)
    return app


def current_of(s):
    from designer.bundles.workspace import current
    return current(s)


def create(app, name="杭州智云科技", revenue=200000, owner="alice", now=None, visits=()):
    from designer.records.store import save
    from tests.conftest import NOW
    values = {"name": name, "annual_revenue": revenue}
    if visits:
        values["visit"] = [{"at": v} for v in visits]
    with app.app_context(), transaction(app) as s:
        return save(s, current_of(s), "admin", "customer", values, owner=owner, now=now or NOW).record.id


def update(app, rid, values, now):
    from designer.records.store import save
    with app.app_context(), transaction(app) as s:
        save(s, current_of(s), "admin", "customer", values, record=s.get(Record, rid), now=now)


def add_visit(app, rid, day, now):
    from designer.records.store import save
    with app.app_context(), transaction(app) as s:
        save(s, current_of(s), "alice", "visit", {"at": day}, parent=s.get(Record, rid), now=now)


def reassign(app, rid, owner, now):
    from designer.workflows.schedule import Change, after_change
    with app.app_context(), transaction(app) as s:
        record = s.get(Record, rid)
        old = record.owner
        record.owner, record.owned_since = owner, now
        s.flush()
        after_change(s, current_of(s), Change(record, rid, "assigned", now, "root", dict(record.data),
                                              dict(record.computed), old))


def tick(app, as_of):
    from designer.workflows.worker import tick as run
    return run(app, as_of)


def rows(app, model, *where):
    with transaction(app) as s:
        return s.scalars(select(model).where(*where).order_by(model.id)).all()


def reminders(app, rid, status=None):
    where = [Firing.kind == "reminder", Firing.record_id == rid]
    if status:
        where.append(Firing.status == status)
    return rows(app, Firing, *where)


def inbox(app):
    return [(n.username, n.kind, n.record_id) for n in rows(app, Notification)]


def test_a_new_record_gets_its_due_time_and_first_reminder(world):
    rid = create(world)  # tier B, no visit: created 2026-03-15 + 30 days = Tue 2026-04-14, 09:00 local
    [pending] = reminders(world, rid, "pending")
    assert pending.due_at == at("2026-04-13 09:00")  # a day before
    assert pending.payload == {"policy": "cadence", "due": "2026-04-14T01:00:00+00:00", "reminder": 0, "step": 0}
    assert rows(world, Record, Record.id == rid)[0].followup_due_at == at("2026-04-14 09:00")


def test_a_visit_moves_the_due_time_and_cancels_the_old_reminder(world):
    rid = create(world)
    add_visit(world, rid, "2026-03-20", at("2026-03-20 15:00"))  # + 30 days: Sun 04-19 -> Mon 04-20
    [old] = reminders(world, rid, "cancelled")
    assert old.outcome == "due time moved from 2026-04-14T01:00:00+00:00 to 2026-04-20T01:00:00+00:00"
    [new] = reminders(world, rid, "pending")
    assert new.due_at == at("2026-04-17 09:00")  # the day before is a Sunday: the Friday before
    assert rows(world, Record, Record.id == rid)[0].followup_due_at == at("2026-04-20 09:00")
    assert tick(world, at("2026-04-14 12:00"))["done"] == 0  # the old due time sends nothing
    assert inbox(world) == []


def test_a_tier_change_moves_the_cadence(world):
    rid = create(world)
    update(world, rid, {"annual_revenue": 5000}, at("2026-03-16 10:00"))  # tier C: 90 days -> Sat 06-13 -> 06-15
    assert [r.outcome for r in reminders(world, rid, "cancelled")] == [
        "due time moved from 2026-04-14T01:00:00+00:00 to 2026-06-15T01:00:00+00:00"]
    assert [r.due_at for r in reminders(world, rid, "pending")] == [at("2026-06-12 09:00")]


def test_reminders_fire_in_order_exactly_once_and_escalate_to_the_manager(world):
    rid = create(world)
    assert tick(world, at("2026-04-13 09:30"))["done"] == 1
    assert inbox(world) == [("alice", "reminder", rid)]
    assert tick(world, at("2026-04-13 09:30"))["done"] == 0  # nothing twice
    counts = tick(world, at("2026-04-25 09:00"))  # on the day, 2 days and 5 days (Sun 04-19 -> Mon 04-20) overdue
    assert counts["done"] == 3
    assert inbox(world) == [("alice", "reminder", rid)] * 3 + [("boss", "escalation", rid)]
    assert tick(world, at("2026-05-30 09:00"))["done"] == 0
    done = reminders(world, rid, "done")
    assert [r.due_at for r in done] == [at("2026-04-13 09:00"), at("2026-04-14 09:00"), at("2026-04-16 09:00"),
                                        at("2026-04-20 09:00")]
    assert [r.outcome for r in done] == ["sent to alice"] * 3 + ["sent to boss"]
    assert len(rows(world, WorkflowEvent, WorkflowEvent.record_id == rid)) == 4
    texts = [n.text for n in rows(world, Notification)]
    assert "杭州智云科技" in texts[0] and "2026-04-14 09:00" in texts[0]


def test_a_reassigned_record_reminds_its_new_owner_only(world):
    rid = create(world)
    reassign(world, rid, "bob", at("2026-04-01 10:00"))
    tick(world, at("2026-04-14 10:00"))
    assert inbox(world) == [("bob", "reminder", rid)] * 2


def test_a_deleted_record_has_its_reminders_cancelled_and_sends_nothing(world):
    from designer.records.store import delete_record
    rid = create(world)
    with world.app_context(), transaction(world) as s:
        delete_record(s, current_of(s), "alice", s.get(Record, rid), now=at("2026-04-01 10:00"))
    [row] = reminders(world, rid)
    assert (row.status, row.outcome) == ("cancelled", "record deleted")
    tick(world, at("2026-06-01 10:00"))
    assert inbox(world) == []


def test_a_record_without_an_owner_reminds_nobody(world):
    rid = create(world, owner=None)
    counts = tick(world, at("2026-04-13 10:00"))
    assert counts["cancelled"] == 1
    assert reminders(world, rid, "cancelled")[0].outcome == "nobody to remind: the record has no active owner"
    assert inbox(world) == []


def test_three_days_of_downtime_then_catch_up_sends_every_due_reminder_once(world):
    ids = [create(world, name=f"客户{i}", revenue=rev) for i, rev in enumerate([200000, 300000, 400000])]
    a = create(world, name="大客户", revenue=2000000, visits=["2026-03-14"])  # tier A: 7 days -> Mon 03-23
    # the worker ran last on 04-10 and was down until 04-15 10:00 (three days and more)
    assert tick(world, at("2026-04-10 10:00"))["done"] == 4  # the tier A record's four reminders
    counts = tick(world, at("2026-04-15 10:00"))
    assert counts["done"] == 2 * len(ids)  # the day before and the day itself, for each tier B record
    got = Counter((u, k, r) for u, k, r in inbox(world))
    assert got == Counter({("alice", "reminder", a): 3, ("boss", "escalation", a): 1,
                           **{("alice", "reminder", r): 2 for r in ids}})
    assert tick(world, at("2026-04-15 10:00"))["done"] == 0


def test_catch_up_digest_sums_up_missed_reminders_per_person(app, publish, make_user):
    make_user("boss", "manager")
    make_user("alice", manager="boss")
    publish(BUNDLE.read_text("utf-8").replace("    working_days: true\n", "    working_days: true\n    catch_up: digest\n"))
    ids = [create(app, name=f"客户{i}") for i in range(3)]
    tick(app, at("2026-04-15 10:00"))  # both reminders of each record are late by more than an hour
    notes = rows(app, Notification)
    assert [(n.username, n.kind) for n in notes] == [("alice", "digest")]
    assert all(f"客户{i}" in notes[0].text for i in range(3))
    assert notes[0].text.count("\n") == 2 * len(ids)
    assert all(r.outcome == "in digest for alice" for i in ids for r in reminders(app, i, "done"))


def test_publish_plans_existing_records_in_bulk_as_the_record_planner_would(app, publish, make_user, frozen):
    make_user("alice")
    without = BUNDLE.read_text("utf-8").split("followup:")[0]
    publish(without)
    specs = [(200000, ()), (5000, ()), (2000000, ("2026-03-10",)), (150000, ("2026-03-01", "2026-02-01")),
             (2000000, ("2025-10-01",))]  # the last: tier B, due 2025-10-31, every reminder long past
    ids = [create(app, name=f"客户{i}", revenue=rev, visits=v) for i, (rev, v) in enumerate(specs)]
    assert rows(app, Firing, Firing.kind == "reminder") == []
    publish(BUNDLE)  # the bulk planner, set-based
    bulk = {(r.record_id, r.key, r.due_at) for r in rows(app, Firing, Firing.kind == "reminder")}
    bulk_due = {r.id: r.followup_due_at for r in rows(app, Record, Record.object == "customer")}
    assert len(bulk) == len(ids) - 1 and all(bulk_due.values())
    # the per-record planner, on a save that changes nothing, agrees exactly
    for rid in ids:
        update(app, rid, {}, frozen)
    assert {(r.record_id, r.key, r.due_at) for r in rows(app, Firing, Firing.kind == "reminder")} == bulk
    assert rows(app, Firing, Firing.kind == "reminder", Firing.status == "cancelled") == []
    assert {r.id: r.followup_due_at for r in rows(app, Record, Record.object == "customer")} == bulk_due
    publish(BUNDLE)  # again: every pending reminder kept, nothing cancelled
    assert {(r.record_id, r.key, r.due_at) for r in rows(app, Firing, Firing.kind == "reminder")} == bulk
    publish(without)  # the policy removed: reminders cancelled with the reason, due times cleared
    assert {r.outcome for r in rows(app, Firing, Firing.kind == "reminder")} == {"follow-up policy removed"}
    assert all(r.followup_due_at is None for r in rows(app, Record, Record.object == "customer"))


def test_utc_storage(world):
    rid = create(world)
    assert reminders(world, rid)[0].due_at.tzinfo is not None
    assert reminders(world, rid)[0].due_at.utcoffset() == UTC.utcoffset(None)
