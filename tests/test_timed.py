"""Time-driven reclassification (SPEC §4): stored values stay current without saves, one firing per change.

The tier of tests/data/followup_crm.bundle.yaml reads `days_since(last_visit_at) <= 90`: a tier A customer
becomes B exactly 91 days after its last visit, and nothing is scheduled for a record whose values cannot
change with time.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from designer.db import transaction
from designer.models import ClassificationChange, Firing, Record

from .test_followups import at, create, add_visit, current_of, rows, tick

BUNDLE = Path(__file__).parent / "data" / "followup_crm.bundle.yaml"


@pytest.fixture
def world(app, publish, make_user, frozen):
    make_user("boss", "manager")
    make_user("alice", manager="boss")
    publish(BUNDLE)
    return app


def planned(app, rid, status="pending"):
    return rows(app, Firing, Firing.kind == "reclassify", Firing.record_id == rid, Firing.status == status)


def test_the_instant_a_tier_changes_is_planned_and_fired(world):
    rid = create(world, revenue=2000000, visits=["2026-03-14"])
    [row] = planned(world, rid)
    assert row.due_at == at("2026-06-13 00:00")  # 2026-03-14 + 91 days, local midnight
    tick(world, at("2026-06-12 23:59"))  # the reminders of its follow-up fire meanwhile
    assert [r.due_at for r in planned(world, rid)] == [at("2026-06-13 00:00")]
    tick(world, at("2026-06-13 00:05"))
    [record] = rows(world, Record, Record.id == rid)
    assert record.computed["tier"] == "B"
    [change] = rows(world, ClassificationChange, ClassificationChange.record_id == rid, ClassificationChange.cause == "time")
    assert (change.old, change.new, change.at) == ("A", "B", at("2026-06-13 00:05"))
    [done] = planned(world, rid, "done")
    assert done.outcome == "reclassified: tier A → B"
    assert planned(world, rid) == []  # B for good: nothing more to wake up for


def test_a_record_that_cannot_change_with_time_gets_no_firing(world):
    rid = create(world, revenue=5000)  # tier C whatever the date
    assert planned(world, rid) == []


def test_a_new_visit_moves_the_instant_and_deletion_cancels_it(world):
    from designer.records.store import delete_record
    rid = create(world, revenue=2000000, visits=["2026-03-14"])
    add_visit(world, rid, "2026-04-01", at("2026-04-01 12:00"))
    [old] = planned(world, rid, "cancelled")
    assert old.outcome == "values now change at another time"
    [new] = planned(world, rid)
    assert new.due_at == at("2026-07-01 00:00")  # 2026-04-01 + 91 days
    with world.app_context(), transaction(world) as s:
        delete_record(s, current_of(s), "alice", s.get(Record, rid), now=at("2026-04-02 12:00"))
    assert [r.outcome for r in planned(world, rid, "cancelled")] == ["values now change at another time",
                                                                     "record deleted"]


def test_stored_values_stay_current_and_only_changes_cost_work(world):
    visits = ["2026-03-14", "2026-02-01", "2026-01-10", "2025-12-20", "2026-03-01"]
    ids = [create(world, name=f"客户{i}", revenue=2000000, visits=[v]) for i, v in enumerate(visits)]
    ids.append(create(world, name="小客户", revenue=5000))
    days = 0
    for when in (at("2026-03-20 08:00"), at("2026-04-20 08:00"), at("2026-05-31 08:00"), at("2026-07-01 08:00")):
        tick(world, when)
        with world.app_context(), transaction(world) as s:
            cur = current_of(s)
            clf = cur.bundle.classifier("customer")
            from designer.records.store import children_of, raw_of
            for record in s.scalars(select(Record).where(Record.id.in_(ids))):
                typed = clf.coerce(raw_of(record, children_of(s, record, ["visit"])), problems=[])
                assert record.computed["tier"] == clf.classify(typed, when).values["tier"], (record.title, when)
        days = (when - at("2026-03-15 10:00")).days
    fired = rows(world, Firing, Firing.kind == "reclassify", Firing.status == "done")
    assert len(fired) == len(visits)  # one per record whose tier changed, nothing for the rest
    assert len(fired) < len(ids) * days / 10  # a nightly sweep would have classified every record every day


def test_catch_up_reclassifies_as_of_the_tick(world):
    rid = create(world, revenue=2000000, visits=["2026-03-14"])
    tick(world, at("2026-06-13 00:00") + timedelta(days=3))  # three days late
    [change] = rows(world, ClassificationChange, ClassificationChange.record_id == rid, ClassificationChange.cause == "time")
    assert change.at == at("2026-06-16 00:00") and change.new == "B"


def test_created_records_after_publish_are_planned_by_the_bulk_planner(app, publish, make_user, frozen):
    make_user("alice")
    publish(BUNDLE.read_text("utf-8").replace("days_since(last_visit_at) <= 90", "annual_revenue > 0"))
    ids = [create(app, name=f"客户{i}", revenue=2000000, visits=["2026-03-14"]) for i in range(3)]
    assert all(planned(app, rid) == [] for rid in ids)
    publish(BUNDLE)  # now the tier depends on time: every record gets its instant in one pass
    assert [planned(app, rid)[0].due_at for rid in ids] == [at("2026-06-13 00:00")] * 3
    publish(BUNDLE.read_text("utf-8").replace("days_since(last_visit_at) <= 90", "annual_revenue > 0"))
    assert all(planned(app, rid) == [] for rid in ids)
    assert {r.outcome for rid in ids for r in planned(app, rid, "cancelled")} == {"values no longer change with time"}

