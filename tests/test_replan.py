"""A large publish leaves its records' planning to the workers (`workflows.replan`), and it comes out the same.

The manufacturing template (reclaims into a pool, date and created
automations, follow-ups, time-driven tiers) with its sample customers; the
rules change (tier thresholds, the pool's 45 days to 30). Published with
`schedule.INLINE` at 0, the publish plans nothing one by one: a chain of
`replan` firings does, a few records a link, run as the worker runs
firings. What is pending afterwards must be exactly what the same rules
published with every record planned inside the publish leave pending.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from designer.db import transaction
from designer.models import BundleVersion, Firing, Record
from designer.workflows import followups, replan, schedule

from .conftest import DB
from .test_bulk_reclassify import _load_template

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "examples" / "manufacturing" / "bundle.yaml").read_text("utf-8")
CHANGED = SOURCE.replace('{when: "order_total_12m >= 500000",', '{when: "order_total_12m >= 400000",') \
    .replace("days_since(coalesce(last_visit_at, created_at)) > 45", "days_since(coalesce(last_visit_at, created_at)) > 30")


@pytest.fixture
def world(app, publish, monkeypatch):
    """The template and its sample customers published; one chain on either database unless a test asks for
    more (`replan.STRIPES`)."""
    assert CHANGED.count("400000") == 1 and "> 30\"" in CHANGED
    monkeypatch.setattr(replan, "STRIPES", {"sqlite": 1, "postgresql": 1})
    publish(SOURCE)
    _load_template(app, "manufacturing")
    return app


def _pending(app) -> set:
    """The pending firings but the chain's, as (key, kind, record, due, payload)."""
    with transaction(app) as s:
        return {(f.key, f.kind, f.record_id, f.due_at, str(sorted(f.payload.items())))
                for f in s.scalars(select(Firing).where(Firing.status == "pending", Firing.kind != replan.KIND))}


def _dues(app) -> dict:
    """record id -> its follow-up due time."""
    with transaction(app) as s:
        return dict(s.execute(select(Record.id, Record.followup_due_at)).all())


def _run_links(app, now: datetime, limit: int | None = None) -> list[str]:
    """Run the chain's pending links one transaction each, as a worker's tick takes them; their outcomes."""
    from designer.bundles.workspace import current
    from designer.workflows.worker import run_one
    schedule._load_planners()
    outcomes = []
    while limit is None or len(outcomes) < limit:
        with transaction(app) as s:
            link = s.scalar(select(Firing).where(Firing.kind == replan.KIND, Firing.status == "pending"))
            if link is None:
                break
            assert run_one(s, current(s), link, now) == "done", link.outcome
            outcomes.append(link.outcome)
    return outcomes


def _progress(app, version: int):
    with transaction(app) as s:
        return replan.progress_of(s, version)


@pytest.mark.parametrize("stripes", [1, 3])
def test_the_chains_plan_what_the_publish_would_have_planned(world, publish, frozen, monkeypatch, stripes):
    app = world
    with transaction(app) as s:
        customers = s.scalar(select(func.count()).select_from(Record).where(Record.object == "customer"))
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "CHUNK", 7)
    monkeypatch.setattr(replan, "STRIPES", {"sqlite": stripes, "postgresql": stripes})
    before, dues_before = _pending(app), _dues(app)
    later = publish(CHANGED)
    with transaction(app) as s:
        assert s.get(BundleVersion, later).report["planned_later"] == customers
    assert _progress(app, later) == {"done": 0, "total": customers, "finished": False, "failing": None}
    # nothing planned yet: the older version's reminders, reclaims and instants stand in
    assert _pending(app) == before and _dues(app) == dues_before

    with transaction(app) as s:
        firsts = [f.payload for f in s.scalars(select(Firing).where(Firing.kind == replan.KIND))]
    assert len(firsts) == stripes and sum(p["total"] for p in firsts) == customers
    assert max(p["total"] for p in firsts) - min(p["total"] for p in firsts) <= 1  # stripes of the same size
    outcomes = _run_links(app, frozen, limit=2)
    assert all(o.startswith("planned 7 records of customer again (7 of ") for o in outcomes) if stripes > 1 else \
        outcomes == [f"planned 7 records of customer again (7 of {customers})",
                     f"planned 7 records of customer again (14 of {customers})"]
    assert _progress(app, later) == {"done": 14, "total": customers, "finished": False, "failing": None}
    outcomes = _run_links(app, frozen)
    assert sum(o.startswith("every record of this chain planned again") for o in outcomes) == stripes
    assert _progress(app, later) == {"done": customers, "total": customers, "finished": True, "failing": None}
    in_background, dues_in_background = _pending(app), _dues(app)

    monkeypatch.setattr(schedule, "INLINE", 10 ** 6)
    again = publish(CHANGED)
    assert _progress(app, again) is None
    in_publish = _pending(app)
    assert in_background == in_publish and dues_in_background == _dues(app)
    kinds = {f[1] for f in in_publish}
    assert {"pool_reclaim", "reclassify", followups.KIND} <= kinds, kinds  # the world exercises every planner
    assert in_background != before and dues_in_background != dues_before


def test_a_newer_publish_cancels_the_chain(world, publish, frozen, monkeypatch):
    app = world
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "CHUNK", 10)
    first = publish(CHANGED)
    _run_links(app, frozen, limit=1)
    second = publish(SOURCE)
    with transaction(app) as s:
        links = s.execute(select(Firing.bundle_version, Firing.status, Firing.outcome)
                          .where(Firing.kind == replan.KIND).order_by(Firing.id)).all()
    assert [(v, st) for v, st, _o in links] == [(first, "done"), (first, "cancelled"), (second, "pending")], links
    assert links[1].outcome == f"version {second} was published: it plans every record again"
    assert _progress(app, first)["finished"] and not _progress(app, second)["finished"]
    _run_links(app, frozen)
    assert _progress(app, second)["finished"]


def test_a_reclaim_planned_under_older_rules_is_decided_under_the_new_ones(world, publish, frozen, monkeypatch):
    """Until the chain reaches a record, its older firings stand in: a reclaim due meanwhile is decided by the
    rules current when it fires (it used to be cancelled for its version, and the record never reclaimed)."""
    from designer.bundles.workspace import current
    from designer.workflows.worker import run_one
    app = world
    with transaction(app) as s:
        reclaim = s.scalar(select(Firing).where(Firing.kind == "pool_reclaim", Firing.status == "pending")
                           .order_by(Firing.due_at))
        assert reclaim is not None
        due, record_id, old_version = reclaim.due_at, reclaim.record_id, reclaim.bundle_version
    monkeypatch.setattr(schedule, "INLINE", 0)
    publish(CHANGED)  # 30 days instead of 45: it holds at least as early; nothing re-planned yet
    with transaction(app) as s:
        reclaim = s.scalar(select(Firing).where(Firing.kind == "pool_reclaim", Firing.status == "pending",
                                                Firing.record_id == record_id))
        assert reclaim.bundle_version == old_version
        assert run_one(s, current(s), reclaim, max(due, frozen)) == "done", reclaim.outcome
        assert reclaim.outcome.startswith("reclaimed into"), reclaim.outcome
        assert s.get(Record, record_id).pool is not None


def test_the_studio_shows_how_far_the_chain_is(world, publish, login, frozen, monkeypatch):
    app = world
    admin = login("root", role="admin")
    assert admin.get("/studio/api/planning").get_json()["planning"] is None  # the template's publish planned all
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "CHUNK", 25)
    version = publish(CHANGED)
    reply = admin.get("/studio/api/planning").get_json()
    assert reply["version"] == version
    total = reply["planning"]["total"]
    assert reply["planning"] == {"done": 0, "total": total, "finished": False, "failing": None} and total > 25
    _run_links(app, frozen, limit=1)
    assert admin.get("/studio/api/planning").get_json()["planning"] == {"done": 25, "total": total, "finished": False, "failing": None}
    _run_links(app, frozen)
    assert admin.get("/studio/api/planning").get_json()["planning"] == {"done": total, "total": total,
                                                                           "finished": True, "failing": None}


def test_a_failing_link_is_retried_until_it_succeeds_and_says_why_meanwhile(world, publish, frozen, monkeypatch):
    """A chain that stopped half-way would leave records unplanned: its link is never marked failed; the
    studio's count shows its error and when it is tried again."""
    from datetime import timedelta

    from designer.bundles.workspace import current
    from designer.workflows.worker import MAX_ATTEMPTS, RETRY_CAP, run_one
    app = world
    monkeypatch.setattr(schedule, "INLINE", 0)
    version = publish(CHANGED)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(replan, "published_after", broken)
    when = frozen
    for attempt in range(1, MAX_ATTEMPTS + 4):
        with transaction(app) as s:
            link = s.scalar(select(Firing).where(Firing.kind == replan.KIND, Firing.status == "pending"))
            assert run_one(s, current(s), link, when) == "retried"
            assert link.attempts == attempt and link.due_at - when <= RETRY_CAP
            when = link.due_at
    failing = _progress(app, version)["failing"]
    assert failing["error"] == "RuntimeError: disk full" and datetime.fromisoformat(failing["retry_at"]) == when
    assert when - frozen > timedelta(hours=2)  # backing off, capped
    monkeypatch.undo()
    monkeypatch.setattr(replan, "CHUNK", 1000)
    _run_links(app, when)
    assert _progress(app, version)["finished"] and _progress(app, version)["failing"] is None


def test_a_workers_claim_takes_one_link_so_that_workers_plan_side_by_side(world, publish, frozen, monkeypatch):
    """Every link is due at the publish's instant: a claim of 200 would take every chain's link and plan
    them one after the other. One a claim, and on PostgreSQL the next worker's claim skips it for another."""
    from designer.workflows.worker import _claim
    app = world
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "STRIPES", {"sqlite": 3, "postgresql": 3})
    publish(CHANGED)
    sqlite = app.config["DATABASE_URL"].startswith("sqlite")
    with transaction(app) as first:
        mine = [f for f in _claim(first, frozen, 200, sqlite) if f.kind == replan.KIND]
        assert len(mine) == 1
        if not sqlite:
            with transaction(app) as second:
                theirs = [f for f in _claim(second, frozen, 200, sqlite) if f.kind == replan.KIND]
                assert len(theirs) == 1 and theirs[0].id != mine[0].id


@pytest.mark.skipif(DB != "postgresql", reason="row locks: SQLite's one writer waits for the whole link anyway")
def test_a_link_locks_its_records_so_a_save_meanwhile_waits(world, publish, frozen, monkeypatch):
    """A save of a record while a link plans it would be planned by the save, then planned again from the
    values the link read before it: the link locks its records, so the save waits for it instead."""
    import threading

    from sqlalchemy import text, update
    from sqlalchemy.exc import OperationalError
    app = world
    monkeypatch.setattr(schedule, "INLINE", 0)
    publish(CHANGED)
    read, go, outcomes = threading.Event(), threading.Event(), []
    real = replan.plan_published

    def paused(*args, **kwargs):
        read.set()
        assert go.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(replan, "plan_published", paused)
    link = threading.Thread(target=lambda: outcomes.extend(_run_links(app, frozen, limit=1)))
    link.start()
    try:
        assert read.wait(30)
        with transaction(app) as s:
            first = s.scalar(select(func.min(Record.id)).where(Record.object == "customer"))
            s.execute(text("SET LOCAL lock_timeout = '300ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                s.execute(update(Record).where(Record.id == first).values(title="改名"))
            s.rollback()
    finally:
        go.set()
        link.join(30)
    assert outcomes and outcomes[0].startswith("planned ")
    with transaction(app) as s:  # and once the link committed, the save goes through
        s.execute(update(Record).where(Record.id == first).values(title="改名"))


@pytest.mark.parametrize("wait", [False, True])
def test_tierwise_publish_leaves_the_planning_to_the_workers_or_waits_for_it(world, database_url, tmp_path, frozen,
                                                                           monkeypatch, wait):
    from click.testing import CliRunner

    from designer.bundles import bulk, parallel
    from designer.cli import main
    app = world
    monkeypatch.setattr(parallel, "FEW", 0)  # helper processes compute the reclassification, chunks of 9
    monkeypatch.setattr(bulk, "HELPED_CHUNK", 9)
    brought = []
    insert_rows = bulk.insert_rows
    monkeypatch.setattr(bulk, "insert_rows", lambda s, table, rows: (brought.append(rows), insert_rows(s, table, rows)))
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "CHUNK", 9)
    monkeypatch.setattr(replan, "STRIPES", {"sqlite": 2, "postgresql": 2})
    bundle = tmp_path / "manufacturing.yaml"
    bundle.write_text(CHANGED, encoding="utf-8")
    result = CliRunner().invoke(main, ["publish", str(bundle), *(["--wait"] if wait else []), "--database",
                                       database_url, "--instance", str(tmp_path / "instance")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(brought) > 1 and any(brought)
    with transaction(app) as s:
        customers = s.scalar(select(func.count()).select_from(Record).where(Record.object == "customer"))
        state = replan.progress_of(s, s.scalar(select(func.max(BundleVersion.id))))
    if wait:
        assert f"planned again for {customers:,} records" in result.stdout
        assert state == {"done": customers, "total": customers, "finished": True, "failing": None}
    else:
        assert f"timed reclassification of {customers:,} records again" in result.stdout
        assert state == {"done": 0, "total": customers, "finished": False, "failing": None}
