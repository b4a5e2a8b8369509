"""Automations (SPEC §7): when they run, and exactly once.

- `created` and `changed` run inside the save's transaction (from the
  `after_change` hook), so their effects commit with the change or not at
  all; `old.x` reads the value before the change.
- `date` keeps one pending firing per record and date value, keyed
  `date:<automation>:<record>:<value>`: a new value cancels the old firing
  and plans a new one; a value already fired never fires again.
- `schedule` keeps one pending firing per automation for its next cron
  occurrence, keyed `cron:<automation>:<occurrence>`. Occurrences are
  computed on the bundle's local wall clock and then converted, so
  "0 9 * * 1-5" stays 09:00 local across a DST change. Firing runs the
  actions on every record for which `when` holds (chosen in SQL when the
  condition compiles to SQL) and plans the next occurrence.
"""
from __future__ import annotations

import contextvars
from datetime import UTC, datetime, time

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.durations import parse_duration

from ..models import Firing, Record
from .actions import HELD, Context, Held, holds, old_values, run, show, typed_values
from .pools import sync_pending
from .schedule import Cancel, Change, bulk_planner, cancel, handler, plan, planner

#: causes of a change that count for `changed` (a save, a time-driven or child-driven reclassification)
CHANGE_CAUSES = ("saved", "time")
BATCH = 500
#: automations running in this call chain: an automation's own `set` does not trigger it again
_running: contextvars.ContextVar[frozenset] = contextvars.ContextVar("automations_running", default=frozenset())


def automations(bundle, object_key: str | None = None, on: str | None = None) -> list[tuple[int, dict]]:
    """(index, spec) of the bundle's automations, optionally of one object and trigger."""
    return [(i, a) for i, a in enumerate(bundle.document.get("automations") or [])
            if isinstance(a, dict) and (object_key is None or a.get("object") == object_key)
            and (on is None or a.get("on") == on)]


def _run(session, current, record, values, index, spec, now, key, cause, old=None, held=None) -> str:
    if spec["key"] in _running.get():
        return "skipped: triggered by its own action"
    token = _running.set(_running.get() | {spec["key"]})
    try:
        return run(Context(session, current, record, values, now, spec, key, cause, old, held=held))
    finally:
        _running.reset(token)


# -- created and changed: in the save's transaction ------------------------------------------------------------

@planner(first=True)
def on_change(session: Session, current, change: Change):
    record = change.record
    if record is None:
        cancel(session, record_id=change.record_id, kinds=("automation_date",), reason="record deleted",
               now=change.now)
        return
    if record.parent_id is not None:
        return
    bundle = current.bundle
    mine = automations(bundle, record.object)
    if not mine:
        return
    values = change.values(session, current)
    if change.created:
        _created(session, current, record, values, mine, change.now)
    elif change.cause in CHANGE_CAUSES:
        _changed(session, current, record, values, mine, change)
    _plan_dates(session, current, record, values, change.now)


def run_created(session: Session, current, change: Change, held: Held | None = None):
    """Only the `created` automations of a new record (a batched import: its bulk planners run afterwards);
    with `held`, on a record not inserted yet (see `can_hold`)."""
    mine = automations(current.bundle, change.record.object, "created")
    if mine:
        _created(session, current, change.record, change.values(session, current), mine, change.now, held)


def can_hold(bundle, object_key: str) -> bool:
    """Whether the object's `created` automations can all run before a new record is inserted: every
    action of theirs changes only the record in memory and writes only events (`actions.HELD`)."""
    return all(set(entry) <= HELD for _i, spec in automations(bundle, object_key, "created")
               for entry in spec.get("do") or [])


def _created(session, current, record, values, mine, now, held=None):
    bundle = current.bundle
    for i, spec in mine:
        if spec.get("on") == "created" and holds(bundle, ("automations", i, "when"), record.object, values, now):
            _run(session, current, record, values, i, spec, now, f"created:{spec['key']}:{record.id}",
                 "record created", held=held)


def _changed(session, current, record, values, mine, change):
    bundle = current.bundle
    old = None
    for i, spec in mine:
        if spec.get("on") != "changed":
            continue
        if old is None:
            old = old_values(current, record, change.old_data, change.old_computed)
        moved = [f for f in spec.get("fields") or [] if _stored(record, f) != _stored_old(change, record, f)]
        if not moved:
            continue
        if not holds(bundle, ("automations", i, "when"), record.object, values, change.now, old=old):
            continue
        cause = ", ".join(f"{f} {show(old.get(f)) or '∅'} → {show(values.get(f)) or '∅'}" for f in moved)
        _run(session, current, record, values, i, spec, change.now,
             f"changed:{spec['key']}:{record.id}:v{record.version}", f"changed: {cause}", old)


def _stored(record, key):
    return record.computed.get(key) if key in (record.computed or {}) else (record.data or {}).get(key)


def _stored_old(change, record, key):
    return change.old_computed.get(key) if key in (record.computed or {}) else change.old_data.get(key)


# -- date: one firing per record and date value ------------------------------------------------------------------

def _date_firing(bundle, record: Record, values: dict, index: int, spec: dict):
    """(key, due, payload) of the date automation's firing for the record's current value, or None."""
    value = values.get(spec.get("field"))
    if value is None:
        return None
    offset = parse_duration(spec.get("offset") or "0d")
    # aware arithmetic in the bundle's zone is wall-clock arithmetic: "-30d" keeps 09:00 across a DST change
    start = value.astimezone(bundle.tz) if isinstance(value, datetime) else \
        datetime.combine(value, time(9), tzinfo=bundle.tz)  # a date fires at 09:00 local
    due = start + offset
    stamp = show(value)
    key = f"date:{spec['key']}:{record.id}:{stamp}"[:255]
    return key, due, {"automation": spec["key"], "field": spec["field"], "value": stamp, "index": index}


def _plan_dates(session, current, record, values, now):
    bundle = current.bundle
    for i, spec in automations(bundle, record.object, "date"):
        got = _date_firing(bundle, record, values, i, spec)
        keep = ()
        if got is not None:
            key, due, payload = got
            plan(session, key=key, kind="automation_date", record_id=record.id, due_at=due, payload=payload,
                 version=current.version)
            keep = (key,)
        reason = f"{spec['field']} is now {payload['value']}" if got else f"{spec['field']} is empty"
        cancel(session, record_id=record.id, kinds=("automation_date",), reason=reason, now=now, keep=keep,
               where=Firing.key.startswith(f"date:{spec['key']}:{record.id}:", autoescape=True))


@handler("automation_date")
def fire_date(session: Session, current, firing: Firing, now: datetime) -> str:
    record = session.get(Record, firing.record_id, with_for_update=True, populate_existing=True)
    if record is None:
        raise Cancel("record deleted")
    bundle = current.bundle
    found = [(i, a) for i, a in automations(bundle, record.object, "date") if a["key"] == firing.payload["automation"]]
    if not found:
        raise Cancel(f"automation {firing.payload['automation']} no longer exists")
    i, spec = found[0]
    values = typed_values(session, current, record, now)
    got = _date_firing(bundle, record, values, i, spec)
    if got is None or got[0] != firing.key:
        raise Cancel(f"{spec['field']} changed since it was planned (now {show(values.get(spec['field'])) or '∅'})")
    if not holds(bundle, ("automations", i, "when"), record.object, values, now):
        raise Cancel("its condition does not hold")
    cause = f"{spec['field']} {firing.payload['value']}{' ' + spec['offset'] if spec.get('offset') else ''}"
    return _run(session, current, record, values, i, spec, now, firing.key, f"date: {cause}")


# -- schedule: cron over every record ----------------------------------------------------------------------------

def next_occurrence(cron: str, tz, after: datetime) -> datetime:
    """The first occurrence of `cron` on the local wall clock of `tz` strictly after `after` (UTC-aware)."""
    local = after.astimezone(tz).replace(tzinfo=None)
    while True:
        naive = croniter(cron, local).get_next(datetime)
        # a wall-clock time inside a spring-forward gap does not exist: it fires when the clock jumps past it
        at = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        if at > after:
            return at
        local = naive


def _plan_cron(session, current, index: int, spec: dict, after: datetime) -> Firing:
    """The pending firing of the automation's first occurrence after `after`."""
    at = next_occurrence(spec["cron"], current.bundle.tz, after)
    return plan(session, key=f"cron:{spec['key']}:{at.isoformat()}", kind="automation_cron", record_id=None,
                due_at=at, version=current.version,
                payload={"automation": spec["key"], "cron": spec["cron"], "index": index, "occurrence": at.isoformat()})


@bulk_planner
def plan_all(session: Session, current, now: datetime, changes: list[Change] | None = None):
    """After a publish: next cron occurrences, automations removed cancelled, and the objects with date
    automations (their records' date firings are planned a batch at a time, `schedule.after_publish`). With
    `changes` (a publish's batch, or a batched import's new records) those records' date firings."""
    bundle = current.bundle
    dated = automations(bundle, on="date")
    objects = {a["object"] for _, a in dated}
    if changes is not None:
        _sync_dates(session, current, [(c.record, c.values(session, current)) for c in changes
                                       if c.record.object in objects], now)
        return None
    keep = [_plan_cron(session, current, i, spec, now).key for i, spec in automations(bundle, on="schedule")]
    stmt = update(Firing).where(Firing.kind == "automation_cron", Firing.status == "pending")
    if keep:
        stmt = stmt.where(Firing.key.not_in(keep))
    session.execute(stmt.values(status="cancelled", outcome="rules published: schedule changed", finished_at=now)
                    .execution_options(synchronize_session=False))
    gone = update(Firing).where(Firing.kind == "automation_date", Firing.status == "pending",
                                *[~Firing.key.startswith(f"date:{a['key']}:", autoescape=True) for _, a in dated])
    session.execute(gone.values(status="cancelled", outcome="rules published: automation removed",
                                finished_at=now).execution_options(synchronize_session=False))
    return objects


def _sync_dates(session, current, records: list[tuple], now: datetime):
    """Make the pending date firings of the (record, values) pairs exactly those their values ask for."""
    if not records:
        return
    bundle = current.bundle
    dated: dict[str, list] = {}
    desired = {}
    for record, values in records:
        if record.object not in dated:
            dated[record.object] = automations(bundle, record.object, "date")
        for i, spec in dated[record.object]:
            got = _date_firing(bundle, record, values, i, spec)
            if got is not None:
                desired[got[0]] = (record.id, "automation_date", got[1], got[2])
    sync_pending(session, current, [record.id for record, _values in records], ("automation_date",), desired, now,
                 "rules published: the date changed or is empty")


@handler("automation_cron")
def fire_cron(session: Session, current, firing: Firing, now: datetime) -> str:
    """Run the automation over every record for which `when` holds; plan the next occurrence."""
    bundle = current.bundle
    name = firing.payload["automation"]
    found = [(i, a) for i, a in automations(bundle, on="schedule") if a["key"] == name]
    if not found or found[0][1]["cron"] != firing.payload["cron"]:
        raise Cancel(f"automation {name} was removed or its schedule changed")
    i, spec = found[0]
    occurrence = firing.payload["occurrence"]
    following = _plan_cron(session, current, i, spec, datetime.fromisoformat(occurrence))
    if spec.get("catch_up") == "digest" and following.due_at <= now:
        return "skipped: a later occurrence is already due (catch_up: digest runs only the latest)"
    ran = 0
    for record in _candidates(session, current, spec):
        values = typed_values(session, current, record, now)
        if not holds(bundle, ("automations", i, "when"), record.object, values, now):
            continue
        key = f"cron:{name}:{occurrence}:{record.id}"[:255]
        if session.scalar(select(Firing.id).where(Firing.key == key)) is not None:
            continue  # this record's part of the occurrence already ran (a resumed firing)
        _run(session, current, record, values, i, spec, now, key, f"schedule {spec['cron']} ({occurrence})")
        session.add(Firing(key=key, kind="automation_cron", record_id=record.id, due_at=firing.due_at, status="done",
                           payload={"automation": name, "occurrence": occurrence}, bundle_version=current.version,
                           outcome="ran", finished_at=now))
        ran += 1
    return f"ran on {ran} record(s)"


def _candidates(session, current, spec):
    """The object's top-level records, narrowed in SQL by `when` when it compiles; a batch at a time."""
    from ..records.expression_filter import where_clause
    clause = None
    if spec.get("when"):
        clause, _error = where_clause(session, current.bundle, spec["object"], spec["when"])
    last = 0
    while True:
        stmt = select(Record).where(Record.object == spec["object"], Record.id > last)
        if clause is not None:
            stmt = stmt.where(clause)
        batch = session.scalars(stmt.order_by(Record.id).limit(BATCH)).all()
        if not batch:
            return
        last = batch[-1].id
        yield from batch
