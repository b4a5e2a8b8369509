"""Time-driven reclassification (SPEC §4): values that read `today()` stay current without anyone saving.

Instead of re-evaluating every record every night, each record gets one
pending `reclassify` firing at the exact instant its values next change with
time alone (`engine.timeline`: `days_since(x) <= 90` flips at x + 91 days).
Firing it reclassifies the record with cause `time` — which re-plans its
follow-ups, pools and automations like any other change — and plans the
following instant. A record whose values never change with time has no
firing at all.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import Firing, Record
from ..records.store import children_of, raw_of, recompute
from .schedule import Cancel, Change, handler, planner

KIND = "reclassify"


def next_change(current, record: Record, children: dict, as_of: datetime) -> datetime | None:
    """The next instant after `as_of` at which the record's computed values change with time alone."""
    clf = current.bundle.classifier(record.object)
    if not clf.timeline.depends_on_time:
        return None
    typed = clf.coerce(raw_of(record, children), problems=[])
    return clf.timeline.next_change(typed, as_of)


def key_of(record_id: int, at: datetime) -> str:
    return f"{KIND}:{record_id}:{at.isoformat()}"


@planner
def plan_reclassify(session: Session, current, change: Change):
    """Keep exactly one pending reclassification per record, at its next change instant (or none)."""
    if change.deleted:
        _cancel_others(session, change.record_id, None, "record deleted", change.now)
        return
    record = change.record
    if record.object not in current.bundle.objects:
        at = None
    else:
        timeline = current.bundle.classifier(record.object).timeline
        at = timeline.next_change(change.typed(session, current), change.now) if timeline.depends_on_time else None
    schedule_at(session, current, record.id, at, change.now)


def schedule_at(session: Session, current, record_id: int, at: datetime | None, now: datetime):
    key = key_of(record_id, at) if at is not None else None
    _cancel_others(session, record_id, key, "values now change at another time" if at else
                   "values no longer change with time", now)
    if key is None:
        return
    row = session.scalar(select(Firing).where(Firing.key == key))
    if row is None:
        session.add(Firing(key=key, kind=KIND, record_id=record_id, due_at=at, payload={"at": at.isoformat()},
                           bundle_version=current.version, status="pending", outcome="", attempts=0))
    elif row.status == "cancelled":
        row.status, row.outcome, row.finished_at, row.bundle_version = "pending", "", None, current.version
    elif row.status == "pending":
        row.bundle_version = current.version


def _cancel_others(session: Session, record_id: int, keep: str | None, reason: str, now: datetime):
    stmt = (update(Firing).where(Firing.record_id == record_id, Firing.kind == KIND, Firing.status == "pending")
            .values(status="cancelled", outcome=reason, finished_at=now).execution_options(synchronize_session=False))
    if keep is not None:
        stmt = stmt.where(Firing.key != keep)
    session.execute(stmt)


@handler(KIND)
def fire_reclassify(session: Session, current, firing: Firing, now: datetime) -> str:
    """Reclassify the record as of now (cause `time`); a change re-plans everything, else plan the next instant."""
    record = session.get(Record, firing.record_id)
    if record is None:
        raise Cancel("record deleted")
    if record.object not in current.bundle.objects:
        raise Cancel(f"object `{record.object}` removed from the bundle")
    before = dict(record.computed or {})
    if recompute(session, current, record, "time", now):
        changed = {k: [before.get(k), v] for k, v in (record.computed or {}).items() if before.get(k) != v}
        return "reclassified: " + (", ".join(f"{k} {old} → {new}" for k, (old, new) in changed.items())
                                   or "same values under the current rules")
    kids = children_of(session, record, current.bundle.objects[record.object].children)
    schedule_at(session, current, record.id, next_change(current, record, kids, now), now)
    return "no value changed"
