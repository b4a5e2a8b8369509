"""Public pools (SPEC §6): reclaim with warning and protection, claims within limits, returns, members."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from designer.bundles.workspace import current
from designer.clock import freeze
from designer.db import transaction
from designer.models import Firing, Notification, Record, User, WorkflowEvent
from designer.records.store import save
from designer.workflows import pools, worker

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "pools_bundle.yaml"
SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 15, 10, tzinfo=SH)


@pytest.fixture
def world(app, publish, make_user):
    publish(BUNDLE)
    for name in ("alice", "bob", "carol"):
        make_user(name, team="sales")
    make_user("dave")
    make_user("eve", team="support")
    return app


def create(app, owner, name, at=T0, **values) -> int:
    with app.app_context(), freeze(at), transaction(app) as s:
        return save(s, current(s), owner, "customer", {"name": name, **values}, owner=owner, now=at).record.id


def edit(app, rid, at, **values):
    with app.app_context(), freeze(at), transaction(app) as s:
        save(s, current(s), "alice", "customer", values, record=s.get(Record, rid), now=at)


def tick(app, at):
    with freeze(at):
        return worker.run(app, once=True, as_of=at)


def firings(app, rid, kind=None):
    with app.app_context(), transaction(app) as s:
        stmt = select(Firing).where(Firing.record_id == rid).order_by(Firing.id)
        return [f for f in s.scalars(stmt) if kind is None or f.kind == kind]


def record(app, rid) -> Record:
    with app.app_context(), transaction(app) as s:
        return s.get(Record, rid)


def user(s, name) -> User:
    return s.scalar(select(User).where(User.username == name))


def pooled(app, owner, name, at=T0) -> int:
    """A record `owner` returned to the pool at `at`."""
    rid = create(app, owner, name, at)
    with app.app_context(), freeze(at), transaction(app) as s:
        pools.return_to_pool(s, current(s), s.get(Record, rid), user(s, owner), "客户没有需求", at)
    return rid


def claim(app, rid, who, at):
    """(ok, limit that refused)."""
    with app.app_context(), freeze(at):
        try:
            with transaction(app) as s:
                pools.claim(s, current(s), rid, user(s, who), at)
            return True, None
        except pools.PoolRefused as exc:
            return False, exc.limit


def test_reclaim_is_planned_warned_and_fired(world):
    rid = create(world, "alice", "华东机械")
    pending = {f.kind: f for f in firings(world, rid) if f.status == "pending"}
    # days_since(created_at) > 30 first holds on 2026-04-15 (local midnight); warn_before 3d
    assert pending["pool_reclaim"].due_at == datetime(2026, 4, 15, tzinfo=SH)
    assert pending["pool_warn"].due_at == datetime(2026, 4, 12, tzinfo=SH)
    tick(world, datetime(2026, 4, 12, 9, tzinfo=SH))
    with world.app_context(), transaction(world) as s:
        note = s.scalar(select(Notification).where(Notification.kind == "pool_warn"))
        assert note.username == "alice" and "华东机械" in note.text and "公海" in note.text
        assert s.scalar(select(WorkflowEvent.kind).where(WorkflowEvent.record_id == rid)) == "pool_warn"
    assert record(world, rid).owner == "alice"
    tick(world, datetime(2026, 4, 15, 0, 5, tzinfo=SH))
    r = record(world, rid)
    assert (r.owner, r.pool, r.previous_owner) == (None, "public", "alice")
    assert r.pool_since == datetime(2026, 4, 15, 0, 5, tzinfo=SH) and "公海" in r.pool_reason
    with world.app_context(), transaction(world) as s:
        assert s.scalar(select(Notification.username).where(Notification.kind == "pool_reclaim")) == "alice"
        event = s.scalar(select(WorkflowEvent).where(WorkflowEvent.kind == "pool_in"))
        assert (event.record_id, event.actor, event.rule) == (rid, "alice", "public")
    assert [f.status for f in firings(world, rid)] == ["done", "done"]


def test_closing_the_deal_cancels_the_reclaim_in_the_same_save(world):
    rid = create(world, "alice", "华南贸易")
    edit(world, rid, datetime(2026, 4, 14, 18, tzinfo=SH), stage="成交")
    statuses = {f.kind: (f.status, f.outcome) for f in firings(world, rid)}
    assert statuses["pool_reclaim"][0] == "cancelled" and "reclaim_when" in statuses["pool_reclaim"][1]
    tick(world, datetime(2026, 6, 1, tzinfo=SH))
    assert record(world, rid).owner == "alice"


def test_a_visit_moves_the_reclaim(world):
    rid = create(world, "alice", "西北能源")
    edit(world, rid, datetime(2026, 4, 10, tzinfo=SH), last_visit_at="2026-04-10T15:00:00+08:00")
    pending = [f for f in firings(world, rid, "pool_reclaim") if f.status == "pending"]
    assert [f.due_at for f in pending] == [datetime(2026, 5, 11, tzinfo=SH)]
    tick(world, datetime(2026, 4, 20, tzinfo=SH))
    assert record(world, rid).owner == "alice"


def test_the_firing_re_checks_the_record_it_reclaims(world):
    """A change the planner did not see (written behind its back) still stops the reclaim at firing time."""
    rid = create(world, "alice", "东北重工")
    with world.app_context(), transaction(world) as s:
        r = s.get(Record, rid)
        r.data = {**r.data, "stage": "成交"}
    tick(world, datetime(2026, 4, 16, tzinfo=SH))
    assert record(world, rid).owner == "alice"
    done = [f for f in firings(world, rid, "pool_reclaim") if f.status == "done"]
    assert done and done[0].outcome.startswith("not reclaimed: reclaim_when no longer holds")


def test_a_claimed_record_is_protected(world):
    rid = pooled(world, "alice", "老客户", at=datetime(2026, 1, 1, 10, tzinfo=SH))
    at = datetime(2026, 3, 15, 10, tzinfo=SH)
    assert claim(world, rid, "bob", at) == (True, None)
    pending = [f for f in firings(world, rid, "pool_reclaim") if f.status == "pending"]
    # reclaim_when already holds (no visit for months): only the 7 days of protection keep it
    assert [f.due_at for f in pending] == [at + timedelta(days=7)]
    tick(world, at + timedelta(days=6))
    assert record(world, rid).owner == "bob"
    tick(world, at + timedelta(days=7, minutes=1))
    r = record(world, rid)
    assert (r.pool, r.previous_owner) == ("public", "bob")


def test_return_to_pool_needs_a_reason_and_the_owner(world):
    rid = create(world, "alice", "中原物流")
    with world.app_context(), transaction(world) as s:
        for who, reason, limit in (("alice", "  ", "reason"), ("bob", "不想要", "owner")):
            with pytest.raises(pools.PoolRefused) as exc:
                pools.return_to_pool(s, current(s), s.get(Record, rid), user(s, who), reason, T0)
            assert exc.value.limit == limit
        pools.return_to_pool(s, current(s), s.get(Record, rid), user(s, "alice"), "预算取消，明年再跟", T0)
    r = record(world, rid)
    assert (r.pool, r.owner, r.previous_owner, r.pool_reason) == ("public", None, "alice", "预算取消，明年再跟")
    assert [f.status for f in firings(world, rid)] == ["cancelled", "cancelled"]


CASES = yaml.safe_load((DATA / "pools_limits.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_pool_limits(world, case):
    """Table-driven: a setup of records and claims, then one claim that is allowed or refused by one limit."""
    ids = {}
    for step in case["setup"]:
        at = T0 + timedelta(hours=step.get("hour", 0))
        if step["do"] == "pooled":
            ids[step["name"]] = pooled(world, step["by"], step["name"], at)
        elif step["do"] == "own":
            ids[step["name"]] = create(world, step["by"], step["name"], at)
        else:
            assert claim(world, ids[step["name"]], step["by"], at) == (True, None), step
    want = case["then"]
    got = claim(world, ids[want["claim"]], want["by"], T0 + timedelta(hours=want.get("hour", 1)))
    assert got == ((True, None) if want["refused"] is None else (False, want["refused"]))


def test_standing_says_what_is_left_today(world):
    a, b = pooled(world, "carol", "甲"), pooled(world, "carol", "乙")
    create(world, "bob", "自己的")
    claim(world, a, "bob", T0 + timedelta(hours=1))
    with world.app_context(), transaction(world) as s:
        pool = pools.pool_for(current(s).bundle, "customer")
        st = pools.standing(s, current(s), pool, user(s, "bob"), T0 + timedelta(hours=2))
        assert (st.claimed_today, st.claims_left, st.holding, st.hold_limit) == (1, 1, 2, 3)
        later = pools.standing(s, current(s), pool, user(s, "bob"), T0 + timedelta(days=1))
        assert later.claims_left == 2
    assert b


def test_members_only_see_and_claim_their_pools(world, login):
    rid = pooled(world, "alice", "保密客户")
    eve, bob = login("eve2", team="support"), login("bob2", team="sales")
    assert "保密客户" not in eve.get("/o/customer/?pool=1").get_data(as_text=True)
    assert "保密客户" in bob.get("/o/customer/?pool=1").get_data(as_text=True)
    assert eve.get(f"/r/{rid}").status_code == 404
    assert bob.get(f"/r/{rid}").status_code == 200
    assert eve.get("/pool/public/").status_code == 404
    assert claim(world, rid, "eve", T0) == (False, "members")
    assert claim(world, rid, "dave", T0) == (True, None)  # a member by name


@pytest.mark.parametrize("rounds", [8])
def test_two_reps_claiming_one_record_at_once_exactly_one_wins(world, publish, rounds):
    source = yaml.safe_load(BUNDLE.read_text("utf-8"))
    for key in ("hold_limit", "claim_limit_per_day"):
        del source["pool"][0][key]
    publish(yaml.safe_dump(source, allow_unicode=True))
    ids = [pooled(world, "carol", f"抢手客户{i}") for i in range(rounds)]
    for rid in ids:
        barrier = threading.Barrier(2)
        results = {}

        def attempt(who, rid=rid, barrier=barrier, results=results):
            with world.app_context(), transaction(world) as s:
                me = user(s, who)
                barrier.wait()
                try:
                    pools.claim(s, current(s), rid, me, T0 + timedelta(hours=1))
                    results[who] = "won"
                except pools.PoolRefused as exc:
                    results[who] = exc.limit
                    s.rollback()
        threads = [threading.Thread(target=attempt, args=(who,)) for who in ("alice", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == ["taken", "won"], results
        winner = next(w for w, v in results.items() if v == "won")
        assert record(world, rid).owner == winner
        with world.app_context(), transaction(world) as s:
            claims = s.scalars(select(WorkflowEvent.actor).where(WorkflowEvent.record_id == rid,
                                                                 WorkflowEvent.kind == "pool_claim")).all()
        assert claims == [winner]


def test_publishing_a_pool_plans_existing_records(app, publish, make_user):
    source = yaml.safe_load(BUNDLE.read_text("utf-8"))
    without = {k: v for k, v in source.items() if k != "pool"}
    publish(yaml.safe_dump(without, allow_unicode=True))
    make_user("alice", team="sales")
    ids = [create(app, "alice", f"客户{i}") for i in range(3)]
    assert all(not firings(app, rid) for rid in ids)
    publish(BUNDLE)
    for rid in ids:
        assert sorted(f.kind for f in firings(app, rid) if f.status == "pending") == ["pool_reclaim", "pool_warn"]
    publish(yaml.safe_dump(without, allow_unicode=True))
    for rid in ids:
        assert {f.status for f in firings(app, rid)} == {"cancelled"}


def test_pool_page_shows_why_and_what_is_left_and_claims(world, login):
    first, second, third = (pooled(world, "carol", n) for n in ("星河科技", "远航物流", "青山建材"))
    bob = login("bob2", team="sales")
    page = bob.get("/pool/public/").get_data(as_text=True)
    assert "星河科技" in page and "客户没有需求" in page and "carol" in page
    assert "你今天还可以领取 2 个" in page and "你持有 0 / 3" in page
    assert bob.get("/pool/").headers["Location"].endswith("/pool/public/")
    for rid in (first, second):
        response = bob.post(f"/pool/public/claim/{rid}")
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/r/{rid}")
    refused = bob.post(f"/pool/public/claim/{third}", follow_redirects=True).get_data(as_text=True)
    assert "claim_limit_per_day" in refused and "明天" in refused
    assert record(world, third).pool == "public"
    assert "你今天还可以领取 0 个" in bob.get("/pool/public/").get_data(as_text=True)
    page = bob.get(f"/r/{first}").get_data(as_text=True)
    assert "跟进与自动化" in page and "从公海领取" in page and "退回公海" in page
    assert "已计划</span> 收回公海" in page  # the reclaim planned after the protection ends


def test_return_form_needs_a_reason_and_a_confirmation(world, login):
    alice = login("alice2", team="sales")
    with world.app_context(), freeze(T0), transaction(world) as s:
        rid = save(s, current(s), "alice2", "customer", {"name": "长江电子"}, owner="alice2", now=T0).record.id
    assert alice.get(f"/r/{rid}/return").status_code == 200
    missing = alice.post(f"/r/{rid}/return", data={"reason": ""})
    assert missing.status_code == 422 and "请说明" in missing.get_data(as_text=True)
    unconfirmed = alice.post(f"/r/{rid}/return", data={"reason": "客户已转给代理商"})
    assert unconfirmed.status_code == 422 and record(world, rid).owner == "alice2"
    done = alice.post(f"/r/{rid}/return", data={"reason": "客户已转给代理商", "confirm": "1"})
    assert done.status_code == 302
    r = record(world, rid)
    assert (r.pool, r.pool_reason, r.previous_owner) == ("public", "客户已转给代理商", "alice2")
    page = alice.get(f"/r/{rid}").get_data(as_text=True)
    assert "客户已转给代理商" in page and "退回公海" in page


def test_deleting_a_record_cancels_its_reclaim(world):
    from designer.records.store import delete_record
    rid = create(world, "alice", "将删除")
    with world.app_context(), freeze(T0), transaction(world) as s:
        delete_record(s, current(s), "alice", s.get(Record, rid), now=T0)
    assert {(f.status, f.outcome) for f in firings(world, rid)} == {("cancelled", "record deleted")}


def test_a_record_assigned_by_a_created_automation_gets_its_reclaim(app, publish, make_user):
    """Automations plan first: the owner a `created` rule assigns is the one the pool planner protects."""
    publish(Path(__file__).parent.parent / "examples" / "manufacturing" / "bundle.yaml")
    for name in ("alice", "bob", "carol", "dave"):
        make_user(name)
    with app.app_context(), freeze(T0), transaction(app) as s:
        rid = save(s, current(s), "importer", "customer",
                   {"name": "无主线索制造厂", "contact_name": "王五", "mobile": "13800138000",
                    "region": "浙江省/杭州市/西湖区", "industry": "化工材料", "source": "展会", "stage": "线索"}, now=T0).record.id
    got = record(app, rid)
    assert got.owner == "alice" and got.owned_since == T0
    kinds = {f.kind for f in firings(app, rid) if f.status == "pending"}
    assert {"pool_reclaim", "pool_warn"} <= kinds, kinds
