"""Assignment (SPEC §7 `assign`): round robin and least loaded stay fair under concurrent saves; rule maps."""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, update

from designer.bundles.workspace import current
from designer.clock import freeze
from designer.db import transaction
from designer.models import Notification, Record, User, WorkflowEvent
from designer.records.store import save

BUNDLE = Path(__file__).parent / "data" / "automations_assign.yaml"


@pytest.fixture
def world(app, publish, make_user, frozen):
    publish(BUNDLE)
    for name in ("u1", "u2", "u3", "u4"):
        make_user(name)
    return app


def create(app, object_key, name, at, owner=None, **values) -> int:
    with app.app_context(), freeze(at), transaction(app) as s:
        return save(s, current(s), "importer", object_key, {"name": name, **values}, owner=owner, now=at).record.id


def owners(app, object_key) -> Counter:
    with app.app_context(), transaction(app) as s:
        return Counter(s.scalars(select(Record.owner).where(Record.object == object_key)))


def in_threads(app, object_key, threads: int, each: int, at):
    errors = []
    barrier = threading.Barrier(threads)

    def work(n):
        barrier.wait()
        try:
            for i in range(each):
                create(app, object_key, f"{object_key}-{n}-{i}", at)
        except Exception as exc:  # reported below: a lost save is a failure of the test
            errors.append(exc)
    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors


def test_round_robin_takes_turns(world, frozen):
    ids = [create(world, "lead", f"线索{i}", frozen) for i in range(6)]
    with world.app_context(), transaction(world) as s:
        got = [s.get(Record, rid).owner for rid in ids]
        events = s.scalars(select(WorkflowEvent).where(WorkflowEvent.kind == "assign")
                           .order_by(WorkflowEvent.id)).all()
    assert got == ["u1", "u2", "u3", "u4", "u1", "u2"]
    assert [e.detail["to"] for e in events] == got and events[0].cause == "round_robin: record created"


def test_round_robin_is_fair_under_concurrency(world, frozen):
    in_threads(world, "lead", threads=4, each=10, at=frozen)
    assert owners(world, "lead") == {"u1": 10, "u2": 10, "u3": 10, "u4": 10}


def test_round_robin_skips_inactive_users(world, frozen):
    with world.app_context(), transaction(world) as s:
        s.execute(update(User).where(User.username == "u2").values(active=False))
    ids = [create(world, "lead", f"线索{i}", frozen) for i in range(3)]
    with world.app_context(), transaction(world) as s:
        assert {s.get(Record, rid).owner for rid in ids} <= {"u1", "u3", "u4"}


def test_least_loaded_fills_up_the_emptiest(world, frozen):
    for i in range(4):
        create(world, "ticket", f"旧工单{i}", frozen, owner="u1")
    create(world, "ticket", "旧工单u2", frozen, owner="u2")
    got = [create(world, "ticket", f"工单{i}", frozen) for i in range(4)]
    with world.app_context(), transaction(world) as s:
        assert [s.get(Record, rid).owner for rid in got] == ["u3", "u2", "u3", "u2"]


def test_least_loaded_is_fair_under_concurrency(world, frozen):
    in_threads(world, "ticket", threads=4, each=6, at=frozen)
    assert owners(world, "ticket") == {"u1": 8, "u2": 8, "u3": 8}


RULES = [("教育", "u1"), ("医疗", "u2"), ("零售", "u3"), (None, "u3")]


@pytest.mark.parametrize("industry, expected", RULES, ids=[str(r[0]) for r in RULES])
def test_rule_maps_a_value_to_a_user(world, frozen, industry, expected):
    rid = create(world, "account", "某客户", frozen, industry=industry)
    with world.app_context(), transaction(world) as s:
        assert s.get(Record, rid).owner == expected
        note = s.scalar(select(Notification).where(Notification.record_id == rid))
        assert note.username == expected and note.text == f"分配给你：某客户（{industry or ''}）"


def test_rule_falls_back_to_the_default_for_an_inactive_user(world, frozen):
    with world.app_context(), transaction(world) as s:
        s.execute(update(User).where(User.username == "u1").values(active=False))
    rid = create(world, "account", "某学校", frozen, industry="教育")
    with world.app_context(), transaction(world) as s:
        assert s.get(Record, rid).owner == "u3"


def test_an_owner_given_at_creation_is_kept(world, frozen):
    rid = create(world, "lead", "自己的线索", frozen, owner="u4")
    with world.app_context(), transaction(world) as s:
        assert s.get(Record, rid).owner == "u4"
        assert s.scalar(select(WorkflowEvent).where(WorkflowEvent.record_id == rid)) is None
