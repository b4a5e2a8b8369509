"""`history_hours` (designer.dashboards.changes, migration 0010) says what the classification history says.

Each writer of the history or of what its counts are filed under runs in
turn (saves at whole and broken hours, an edit, a child added, an owner
change by the ORM and by one set-based UPDATE, a pool move and a claim, a
history row deleted, deletes by the store and by SQL with the foreign key's
cascade, a publish reclassified in SQL, an import: COPY on PostgreSQL,
multi-row INSERTs on SQLite); after each, the table (its rows summed per
kind, as PostgreSQL appends signed rows) equals the history grouped by
hour, counted here in Python. On PostgreSQL two transactions writing the
same kind do not wait for each other. Then the dashboards' changes after
a time, summed from the table, equal those read from the history rows, at
points on whole UTC hours and not, for everyone and for a team.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from tests import test_dashboard_values as world

#: the same world and writers as record_values' tests: the manufacturing template published, four reps
ws = world.ws
PG = world.PG
_customers, _sample, _save = world._customers, world._sample, world._save
add_visit, change_owner, delete_records, edit_values = world.add_visit, world.change_owner, world.delete_records, \
    world.edit_values
import_file, publish_changed_rules, reassign_all, save_new = world.import_file, world.publish_changed_rules, \
    world.reassign_all, world.save_new

HOUR = timedelta(hours=1)


def _hour_end(at: datetime) -> datetime:
    start = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start if start == at else start + HOUR


def _normal(value):
    from designer.dashboards.queries import normal
    return normal(value)


def expected(s) -> dict:
    """(object, key, hour end, owner, old, new) -> history rows, from the history and its records' current owner
    (and every owner together: '*')."""
    from designer.models import ClassificationChange, Record
    out: dict = {}
    rows = s.execute(select(Record.object, Record.owner, ClassificationChange.key, ClassificationChange.at,
                            ClassificationChange.old, ClassificationChange.new)
                     .join(Record, Record.id == ClassificationChange.record_id))
    for obj, owner, key, at, old, new in rows:
        for scope in (owner or "", "*"):  # its owner's and everyone's
            kind = (obj, key, _hour_end(at), scope, _normal(old), _normal(new))
            out[kind] = out.get(kind, 0) + 1
    return out


def stored(s) -> dict:
    """The same, as the table holds it (its JSON decoded, each value spelt as the dashboards do): its rows summed
    per kind, kinds summing to 0 left out. On PostgreSQL the triggers append a kind's counts as several signed
    rows (read with Core: as ORM objects, rows of one kind would be one identity); on SQLite a kind has one row."""
    from designer.models import HistoryHour
    t = HistoryHour.__table__
    out: dict = {}
    for row in s.execute(select(t.c.object, t.c.key, t.c.hour_end, t.c.owner, t.c.old, t.c.new, t.c.n)):
        if not PG:
            assert row.n > 0, row  # SQLite: a row that reached 0 is gone
        kind = (row.object, row.key, row.hour_end, row.owner, _normal(json.loads(row.old)), _normal(json.loads(row.new)))
        out[kind] = out.get(kind, 0) + row.n
    return {kind: n for kind, n in out.items() if n}


def agrees(app) -> dict:
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        want, have = expected(s), stored(s)
    assert have == want, ({k: (have.get(k), want.get(k)) for k in set(have) | set(want) if have.get(k) != want.get(k)})
    return want


def neighbours_agree(app) -> int:
    """Every history row's neighbours (migrations 0013, 0018) are those counted here in Python: the instants of
    the rows before and after it of its record and key in (at, id) order, the previous row's `old` and `new`
    and the instant of the one before that; the rows that have a neighbour."""
    from designer.db import transaction
    from designer.models import ClassificationChange as H
    with app.app_context(), transaction(app) as s:
        rows = s.execute(select(H.id, H.record_id, H.key, H.at, H.old, H.new, H.prev_at, H.next_at, H.prev_old,
                                H.prev_new, H.prev_prev_at).order_by(H.record_id, H.key, H.at, H.id)).all()
    wrong, linked = [], 0
    def same(j, row):  # rows[j], if it is of `row`'s record and key
        return rows[j] if 0 <= j < len(rows) and (rows[j].record_id, rows[j].key) == (row.record_id, row.key) \
            else None
    for i, row in enumerate(rows):
        before, after, earlier = same(i - 1, row), same(i + 1, row), same(i - 2, row)
        want = (before and before.at, after and after.at, before and before.old, before and before.new,
                earlier and earlier.at)
        have = (row.prev_at, row.next_at, row.prev_old, row.prev_new, row.prev_prev_at)
        linked += bool(before or after)
        if have != want:
            wrong.append((row.id, row.record_id, row.key, row.at, have, want))
    assert not wrong, wrong[:5]
    return linked


# -- the writers not shared with test_dashboard_values -----------------------------------------------------------

def save_at_broken_hours(app, now):
    """New customers saved over days at times off the hour, each edited later (their tiers moving)."""
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.models import Record
    from designer.records.store import save
    for i, row in enumerate(_sample(10, skip=40)):
        _save(app, now - timedelta(days=9) + i * timedelta(hours=17, minutes=13, seconds=7), [row])
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for i, record in enumerate(s.scalars(select(Record).where(Record.object == "customer")
                                             .order_by(Record.id.desc()).limit(10))):
            values = {"is_key_account": True, "annual_purchase": 9000000} if i % 2 else {"annual_purchase": 1000}
            save(s, cur, record.owner, "customer", values, record=record, now=now - timedelta(days=4, minutes=i * 29))


def pool_and_claim(app, now):
    world.pool_and_claim(app, now, check=agrees)


def delete_history(app, now):
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:  # the record stays: its row is taken off its hour
        s.execute(text("DELETE FROM classification_history WHERE id IN "
                       "(SELECT min(id) FROM classification_history GROUP BY record_id LIMIT 2)"))


STEPS = [save_new, save_at_broken_hours, edit_values, add_visit, change_owner, reassign_all, pool_and_claim,
         delete_history, delete_records, publish_changed_rules, import_file]


def test_history_hours_and_neighbours_follow_every_writer(ws, frozen, tmp_path, database_url):
    seen, linked = set(), []
    for step in STEPS:
        world.run(step, ws, frozen, tmp_path, database_url)
        seen |= {(kind[0], kind[1], kind[2] == frozen) for kind in agrees(ws)}
        linked.append(neighbours_agree(ws))
    assert ("customer", "tier", True) in seen and ("customer", "tier", False) in seen  # on the hour and off it
    assert "band" in {key for _obj, key, _on in seen}  # the publish's SQL reclassification
    assert linked[0] == 0 and linked[1] > 0 and max(linked) > linked[1]  # saves, then edits, link rows


@pytest.mark.parametrize("how", ["emptied", "written with triggers off"])
def test_rebuild_counts_the_history_again(ws, frozen, how):
    from designer.dashboards import changes
    from designer.db import transaction
    if how != "emptied" and not PG:
        pytest.skip("SQLite's triggers cannot be turned off")
    save_at_broken_hours(ws, frozen)
    want = agrees(ws)
    with ws.app_context(), transaction(ws) as s:
        if how == "emptied":
            s.execute(text("DELETE FROM history_hours"))
        else:
            s.execute(text("SET LOCAL session_replication_role = replica"))  # as benchmarks/runtime.py loads
            s.execute(text("UPDATE records SET owner = 'dave' WHERE owner = 'alice'"))
            s.execute(text("SET LOCAL session_replication_role = origin"))
        assert stored(s) != expected(s)
        changes.rebuild(s)
    have = agrees(ws)  # the history's counts again, under the owners the records have now
    assert (have == want) == (how == "emptied")


def test_the_command_line_rebuilds_what_the_dashboards_count_from(ws, frozen, database_url, tmp_path):
    """`tierwise db rebuild` after a load that bypassed the triggers: history_hours everywhere, record_values on
    PostgreSQL (SQLite keeps none), in one transaction."""
    from click.testing import CliRunner

    from designer.cli import main
    from designer.db import transaction
    save_at_broken_hours(ws, frozen)
    add_visit(ws, frozen)
    want, values = agrees(ws), world.agrees(ws) if PG else None
    linked = neighbours_agree(ws)
    with ws.app_context(), transaction(ws) as s:
        s.execute(text("DELETE FROM history_hours"))
        s.execute(text("DELETE FROM record_values"))
        s.execute(text("UPDATE classification_history SET prev_at = NULL, next_at = at, prev_new = old, "
                       "prev_prev_at = at"))  # all wrong
    result = CliRunner().invoke(main, ["db", "rebuild", "--database", database_url,
                                       "--instance", str(tmp_path / "instance")])
    assert result.exit_code == 0, result.output
    assert "history_hours" in result.output and ("record_values" in result.output) == PG
    assert "neighbours" in result.output
    assert agrees(ws) == want
    assert neighbours_agree(ws) == linked > 0
    if PG:
        assert world.agrees(ws) == values != {}


@pytest.mark.skipif(not PG, reason="PostgreSQL's appended rows; SQLite has one writer at a time")
def test_concurrent_writers_of_one_kind_do_not_wait_for_each_other(ws, frozen):
    """Two open transactions each write a history row of the same kind (key, hour, old -> new: everyone's rows,
    and the owner's when the two records have the same) for two records: the second does not wait for the first
    to commit, as the triggers only append. With a row per kind updated in place it would wait, here past its
    lock timeout. (Two writers of one record wait for each other at its row anyway.)"""
    from designer.db import engine_of, transaction
    save_new(ws, frozen)
    with ws.app_context(), transaction(ws) as s:
        customers = _customers(s)
        mine = _customers(s, customers[0].owner)
        records = [c.id for c in (mine if len(mine) > 1 else customers)[:2]]
    insert = text("INSERT INTO classification_history (record_id, key, old, new, at, cause, explain) "
                  "VALUES (:r, 'tier', '\"B\"', '\"A\"', :at, 'saved', '{}')")
    at = (frozen - timedelta(days=2, minutes=7)).astimezone(UTC).replace(tzinfo=None)
    engine = engine_of(ws)
    with engine.connect() as first, engine.connect() as second:
        first.begin()
        first.execute(insert, {"r": records[0], "at": at})  # open: its rows written, not committed
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        second.execute(insert, {"r": records[1], "at": at + timedelta(minutes=1)})  # raises if it waited 2 s
        second.commit()
        first.commit()
    agrees(ws)


# -- the dashboards' sums: from the table as from the history ----------------------------------------------------

KOLKATA = ZoneInfo("Asia/Kolkata")  # midnights at :30 UTC
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _days(zone, count: int, step: int = 1):
    start = datetime(2026, 3, 5, tzinfo=zone)
    return [start + timedelta(days=d * step) for d in range(count)]


#: (id, after and bounds, scope): points on whole UTC hours, at :30, inside one hour, right at a change
CASES = [
    ("Shanghai midnights", lambda now: _days(SHANGHAI, 12), None),
    ("Shanghai midnights, a team", lambda now: _days(SHANGHAI, 12), ["alice", "bob"]),
    ("Kolkata midnights", lambda now: _days(KOLKATA, 12), None),
    ("Kolkata weeks, a team", lambda now: _days(KOLKATA, 3, 7), ["bob", "carol"]),
    ("one time off the hour", lambda now: [now - timedelta(days=6, minutes=17)], None),
    ("several in one hour", lambda now: [now - timedelta(days=8, minutes=m) for m in (50, 40, 10)] + [now], None),
    ("at a change, then hours", lambda now: [now - timedelta(days=4, minutes=29)]
     + [now - timedelta(days=3, hours=h) for h in (5, 4, 0)], ["alice", "dave"]),
    ("on the hour of the saves", lambda now: [now - HOUR, now, now + HOUR], None),
]


def _from_history(s, after, bounds, owners, shared):
    from designer.dashboards import queries
    pg = s.get_bind().dialect.name == "postgresql"
    out: dict = {}
    queries._fold(s.execute(queries._history_deltas("customer", "tier", owners, after, bounds, shared, pg)), out)
    return out


def _nonzero(deltas: dict) -> dict:
    return {b: {v: n for v, n in per.items() if n} for b, per in deltas.items() if any(per.values())}


@pytest.fixture
def past(ws, frozen):
    """Customers saved and edited at times on and off the hour, owners changed, one deleted."""
    for step in (save_new, save_at_broken_hours, edit_values, change_owner, reassign_all, delete_records):
        step(ws, frozen)
    return ws


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_changes_summed_by_hour_equal_the_history_rows(past, frozen, case):
    from designer.dashboards import queries
    from designer.db import transaction
    _id, points, owners = case
    points = points(frozen)
    with past.app_context(), transaction(past) as s:
        for shared in (False, True):
            for after, bounds in ((points[0], points[1:] or None), (points[-1], None)):
                have = queries._deltas(s, "customer", "tier", owners, after, bounds, shared)
                assert _nonzero(have) == _nonzero(_from_history(s, after, bounds, owners, shared)), (after, shared)
        assert any(_nonzero(queries._deltas(s, "customer", "tier", owners, points[0] - timedelta(days=30))).values())


def test_another_objects_history_of_the_same_key_is_left_out(past, frozen):
    """The `shared` case: a visit with a classification `tier` of its own counts under the visit."""
    from designer.dashboards import queries
    from designer.db import transaction
    from designer.models import Record
    add_visit(past, frozen)
    after = frozen - timedelta(days=10, minutes=30)
    with past.app_context(), transaction(past) as s:
        before = queries._deltas(s, "customer", "tier", None, after, shared=True)
        visit = s.scalar(select(Record.id).where(Record.object == "visit").limit(1))
        s.execute(text("INSERT INTO classification_history (record_id, key, old, new, at, cause, explain) "
                       "VALUES (:r, 'tier', 'null', '\"A\"', :at, 'saved', '{}')"),
                  {"r": visit, "at": (frozen - timedelta(days=2, minutes=7)).astimezone(UTC).replace(tzinfo=None)})
        assert queries._deltas(s, "customer", "tier", None, after, shared=True) == before
        assert _nonzero(before) == _nonzero(_from_history(s, after, None, None, True))
        assert s.scalar(text("SELECT sum(n) FROM history_hours "
                             "WHERE object = 'visit' AND key = 'tier' AND owner = '*'")) == 1


def test_counts_at_a_broken_hour_follow_the_definition(past, frozen):
    """The counts at a time off the hour are each record's newest history row at or before it."""
    from designer.dashboards import queries
    from designer.db import transaction
    from designer.models import ClassificationChange, Record
    with past.app_context(), transaction(past) as s:
        rows = s.execute(select(ClassificationChange.record_id, ClassificationChange.at, ClassificationChange.new,
                                Record.owner).join(Record, Record.id == ClassificationChange.record_id)
                         .where(ClassificationChange.key == "tier", Record.object == "customer")
                         .order_by(ClassificationChange.at, ClassificationChange.id)).all()
        for at in (frozen - timedelta(days=5, minutes=45), *_days(KOLKATA, 10)):
            for owners in (None, ["alice", "bob"]):
                then: dict = {}
                for record_id, changed, new, owner in rows:
                    if changed <= at and (owners is None or owner in owners):
                        then[record_id] = _normal(new)
                want: dict = {}
                for value in then.values():
                    if value is not None:
                        want[value] = want.get(value, 0) + 1
                s.info.clear()
                assert queries.counts_at(s, "customer", "tier", owners, at) == want, (at, owners)
