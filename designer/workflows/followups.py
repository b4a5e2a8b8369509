"""Follow-up reminders (SPEC §5) on the durable schedule: planned with every change, re-checked when they fire.

Each record has at most one pending `reminder` firing per policy: the next
reminder of its current due time. Its key names the policy, the record, the
due time and the reminder, so a reminder is sent at most once per record and
due time. When a change moves the due time (a new activity, a tier change,
a publish), the pending reminder of the old due time is cancelled with the
reason, and the first reminder of the new one still ahead is planned.
Reminders whose time had already passed when their due time was set are not
sent; the 今日待跟进 and overdue lists (`Record.followup_due_at`) show those
records. Firing a reminder plans the next one of the same due time, whatever
the hour, so a worker catching up after downtime sends every one of them.

A firing re-reads its record and re-checks: a deleted record, a removed
policy or a due time that has moved cancel it, with the reason kept;
recipients are resolved at firing time, so a reassigned record reminds its
new owner and never the old one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from engine import followup
from engine.followup import Policy

from ..models import Firing, Notification, Record, WorkflowEvent
from ..records.store import children_of, raw_of
from .notify import notify, recipients
from .schedule import Cancel, Change, handler, planner
from .worker import batch_handler

KIND = "reminder"
#: a reminder fired this much after its time counts as missed (downtime): `catch_up: digest` sums those up
LATE_AFTER = timedelta(hours=1)


# -- what a record's follow-up looks like now ---------------------------------------------------------------


def values_of(session: Session, current, record: Record, policies: list[Policy], as_of: datetime) -> dict:
    """The record's values as the cadence conditions read them (stored; fully reclassified only when a
    condition aggregates over child records)."""
    clf = current.bundle.classifier(record.object)
    if any(p.reads_children for p in policies):
        typed = clf.coerce(raw_of(record, children_of(session, record, clf.object.children)), problems=[])
        return clf.classify(typed, as_of).record_with_values()
    return followup.stored_values(clf, raw_of(record), record.computed or {})


def latest_activity(session: Session, current, policy: Policy, record_id: int) -> datetime | None:
    """When the record's latest activity of `policy` happened (None when it has none)."""
    if policy.activity is None:
        return None
    if policy.activity_time == "created_at":
        rows = session.scalars(select(Record.created_at).where(Record.parent_id == record_id,
                                                               Record.object == policy.activity))
    else:
        rows = (followup.activity_instant(current.bundle, data.get(policy.activity_time)) for data in
                session.scalars(select(Record.data).where(Record.parent_id == record_id,
                                                          Record.object == policy.activity)))
    return max((t for t in rows if t is not None), default=None)


def due_of(session: Session, current, record: Record, policy: Policy, values: dict, as_of: datetime):
    return followup.next_due(current.bundle, policy, values, latest_activity(session, current, policy, record.id),
                             record.created_at, as_of)


def cadence_values(session: Session, current, change: Change, policies: list[Policy]) -> dict:
    """What the cadence conditions read of a changed record: its values as stored, or the change's values
    when a condition aggregates over child records."""
    if any(p.reads_children for p in policies):
        return change.values(session, current)
    record = change.record
    return followup.stored_values(current.bundle.classifier(record.object), raw_of(record), record.computed or {})


def key_of(policy: Policy, record_id: int, due: datetime, index: int) -> str:
    return f"{KIND}:{policy.key}:{record_id}:{due.isoformat()}:{index}"


# -- planning ---------------------------------------------------------------------------------------------


@planner
def plan_followups(session: Session, current, change: Change):
    """Bring the record's follow-up due time and pending reminders up to date (in the change's transaction)."""
    if change.deleted:
        session.execute(update(Firing).where(Firing.record_id == change.record_id, Firing.kind == KIND,
                                             Firing.status == "pending")
                        .values(status="cancelled", outcome="record deleted", finished_at=change.now)
                        .execution_options(synchronize_session=False))
        return
    record = change.record
    policies = followup.policies(current.bundle, record.object)
    pending = session.scalars(select(Firing).where(Firing.record_id == record.id, Firing.kind == KIND,
                                                   Firing.status == "pending")).all()
    known = {p.key for p in policies}
    for row in pending:
        if row.payload.get("policy") not in known:
            _cancel_row(row, "follow-up policy removed", change.now)
    dues = []
    if policies:
        values = cadence_values(session, current, change, policies)
        for p in policies:
            due = due_of(session, current, record, p, values, change.now)
            sync(session, current, record.id, p, due, [r for r in pending if r.payload.get("policy") == p.key],
                 change.now)
            if due is not None:
                dues.append(due)
    set_due(session, record, min(dues) if dues else None)


def sync(session: Session, current, record_id: int, policy: Policy, due: datetime | None, pending: list[Firing],
         now: datetime):
    """Keep the pending reminder of `due`, cancel those of other due times, plan the first one still ahead."""
    due_text = due.isoformat() if due is not None else None
    kept = False
    for row in pending:
        if row.status != "pending":
            continue
        if row.payload.get("due") == due_text:
            row.bundle_version = current.version
            kept = True
        elif due is None:
            _cancel_row(row, "no cadence entry holds any more: no follow-up due", now)
        else:
            _cancel_row(row, f"due time moved from {row.payload.get('due')} to {due_text}", now)
    if due is None or kept:
        return
    chain = followup.reminder_times(current.bundle, policy, due)
    for step, (reminder, at) in enumerate(chain):
        if at > now:
            put(session, current, record_id, policy, due, step, reminder.index, at)
            return


def put(session: Session, current, record_id: int, policy: Policy, due: datetime, step: int, index: int,
        at: datetime):
    """Make the reminder firing pending (a cancelled one of the same key comes back; a fired one stays)."""
    key = key_of(policy, record_id, due, index)
    payload = {"policy": policy.key, "due": due.isoformat(), "reminder": index, "step": step}
    row = session.scalar(select(Firing).where(Firing.key == key))
    if row is None:
        session.add(Firing(key=key, kind=KIND, record_id=record_id, due_at=at, payload=payload,
                           bundle_version=current.version, status="pending", outcome="", attempts=0))
    elif row.status == "cancelled":
        row.status, row.due_at, row.payload, row.outcome, row.finished_at = "pending", at, payload, "", None
        row.bundle_version = current.version


def set_due(session: Session, record: Record, due: datetime | None):
    """Store the record's next follow-up due time without counting it as an edit (its version stays)."""
    if record.followup_due_at != due:
        session.execute(update(Record.__table__).where(Record.__table__.c.id == record.id)
                        .values(followup_due_at=due))
        set_committed_value(record, "followup_due_at", due)


def _cancel_row(row: Firing, reason: str, now: datetime):
    row.status, row.outcome, row.finished_at = "cancelled", reason, now


# -- firing -------------------------------------------------------------------------------------------------


@dataclass
class _Send:
    """What firing one reminder does, decided before anything is written."""

    firing: Firing
    record: Record
    policy: Policy
    reminder: followup.Reminder
    due: datetime
    to: list[str]
    #: the reminder after this one for the same due time: (step, reminder index, instant)
    following: tuple | None
    late: bool


def _decide(session: Session, current, firing: Firing, record: Record | None, now: datetime, latest=None,
            who_cache: dict | None = None) -> _Send:
    """Re-read and re-check one firing; raises Cancel (with the reason) when it no longer applies.

    `latest` gives the latest activity per record when the caller read them all at once."""
    if record is None:
        raise Cancel("record deleted")
    policy = followup.policy(current.bundle, firing.payload.get("policy"))
    if policy is None or policy.object != record.object:
        raise Cancel("follow-up policy removed")
    values = values_of(session, current, record, [policy], now)
    last = latest(policy, record.id) if latest else latest_activity(session, current, policy, record.id)
    due = followup.next_due(current.bundle, policy, values, last, record.created_at, now)
    if due is None or due.isoformat() != firing.payload.get("due"):
        raise Cancel(f"due time moved from {firing.payload.get('due')} to {due.isoformat() if due else 'none'}")
    chain = followup.reminder_times(current.bundle, policy, due)
    step = next((i for i, (r, _at) in enumerate(chain) if r.index == firing.payload.get("reminder")), None)
    if step is None:
        raise Cancel("reminder removed from the policy")
    reminder = chain[step][0]
    cache_key = (repr(reminder.notify), record.owner)
    if who_cache is not None and cache_key in who_cache:
        to = who_cache[cache_key]
    else:
        to = recipients(session, reminder.notify, record)
        if who_cache is not None:
            who_cache[cache_key] = to
    following = None
    if step + 1 < len(chain):
        following = (step + 1, chain[step + 1][0].index, chain[step + 1][1])
    late = policy.catch_up == "digest" and now - firing.due_at > LATE_AFTER
    return _Send(firing, record, policy, reminder, due, to, following, late)


def _outcome(send: _Send) -> str:
    if not send.to:
        raise Cancel("nobody to remind: the record has no active owner" if send.record.owner is None or
                     send.reminder.notify == "owner" else f"nobody to remind: {send.reminder.notify}")
    return ("in digest for " if send.late else "sent to ") + ", ".join(send.to)


def _event(send: _Send, now: datetime) -> dict:
    kind = "escalation" if send.reminder.escalation else "reminder"
    return {"record_id": send.record.id, "at": now, "kind": kind, "rule": send.policy.key,
            "cause": f"follow-up due {send.due.isoformat()}, reminder {send.reminder.index}",
            "detail": {"key": send.firing.key, "to": send.to, "digest": send.late}, "actor": None}


@handler(KIND)
def fire_reminder(session: Session, current, firing: Firing, now: datetime) -> str:
    """Remind whoever the reminder names, if the record still has this due time; plan the next reminder."""
    send = _decide(session, current, firing, session.get(Record, firing.record_id), now)
    if send.following is not None:
        put(session, current, send.record.id, send.policy, send.due, *send.following)
    outcome = _outcome(send)
    with force_locale(_locale(current)):
        text = _text(current, send, now)
    for username in send.to:
        if send.late:
            _digest(session, current, username, send.policy, text, now)
        else:
            notify(session, to=username, record_id=send.record.id, kind=_event(send, now)["kind"], text=text,
                   key=f"{firing.key}:{username}", now=now)
    session.add(WorkflowEvent(**_event(send, now)))
    return outcome


@batch_handler(KIND)
def fire_reminders(session: Session, current, firings: list[Firing], now: datetime) -> dict:
    """The same as `fire_reminder` for a whole claimed batch, in a handful of statements: records, latest
    activities and recipients read at once; notifications, events and the next reminders written at once.

    Returns firing id -> outcome text, or the Cancel that cancels it."""
    ids = list({f.record_id for f in firings})
    records = {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(ids))
                                                .options(defer(Record.explain)))}  # explanations are not read
    latest = _latest_many(session, current, ids)
    who_cache: dict = {}
    outcomes, told = {}, []
    for f in firings:
        try:
            send = _decide(session, current, f, records.get(f.record_id), now, latest, who_cache)
            outcomes[f.id] = _outcome(send)
            told.append(send)
        except Cancel as exc:
            outcomes[f.id] = exc
    _put_many(session, current, [s for s in told if s.following is not None], now)
    _notify_many(session, current, told, now)
    if told:
        session.execute(insert(WorkflowEvent), [_event(s, now) for s in told])
    return outcomes


def _latest_many(session: Session, current, ids: list[int]):
    """latest(policy, record_id) for many records: one grouped query per activity object and time field."""
    found: dict[tuple[str, str], dict[int, datetime]] = {}
    for p in followup.policies(current.bundle):
        if p.activity is None or (p.activity, p.activity_time) in found:
            continue
        column = Record.created_at if p.activity_time == "created_at" else _json_text(session, p.activity_time)
        rows = session.execute(select(Record.parent_id, func.max(column)).where(
            Record.parent_id.in_(ids), Record.object == p.activity).group_by(Record.parent_id))
        found[(p.activity, p.activity_time)] = {rid: followup.activity_instant(current.bundle, value)
                                                for rid, value in rows}

    def latest(policy: Policy, record_id: int) -> datetime | None:
        if policy.activity is None:
            return None
        return found[(policy.activity, policy.activity_time)].get(record_id)
    return latest


def _json_text(session: Session, key: str):
    """A field of `data` as text, as both databases write it (ISO dates and datetimes sort as text)."""
    if session.get_bind().dialect.name == "postgresql":
        return Record.data.op("->>")(key)
    return func.json_extract(Record.data, f"$.{key}")


def _put_many(session: Session, current, sends: list[_Send], now: datetime):
    """`put` for many next reminders: one read of the keys that exist, one insert of the rest."""
    rows = {}
    for s in sends:
        step, index, at = s.following
        key = key_of(s.policy, s.record.id, s.due, index)
        rows[key] = {"key": key, "kind": KIND, "record_id": s.record.id, "due_at": at, "status": "pending",
                     "payload": {"policy": s.policy.key, "due": s.due.isoformat(), "reminder": index, "step": step},
                     "bundle_version": current.version, "outcome": "", "attempts": 0, "created_at": now}
    if not rows:
        return
    for row in session.execute(select(Firing.key, Firing.status).where(Firing.key.in_(list(rows)))).all():
        planned = rows.pop(row.key)
        if row.status == "cancelled":
            session.execute(update(Firing).where(Firing.key == row.key)
                            .values(status="pending", due_at=planned["due_at"], payload=planned["payload"],
                                    outcome="", finished_at=None, bundle_version=current.version)
                            .execution_options(synchronize_session=False))
    if rows:
        session.execute(insert(Firing), list(rows.values()))


def _notify_many(session: Session, current, sends: list[_Send], now: datetime):
    """Write the notifications of many reminders. Without e-mail or webhooks configured they are plain rows,
    inserted at once; with them, each goes through `notify`, which also queues its outbox copies."""
    plain = not (current_app.config.get("SMTP_HOST") or current_app.config.get("WEBHOOK_URL"))
    rows = {}
    with force_locale(_locale(current)):
        texts = [_text(current, s, now) for s in sends]
    for s, text in zip(sends, texts):
        kind = "escalation" if s.reminder.escalation else "reminder"
        for username in s.to:
            key = f"{s.firing.key}:{username}"
            if s.late:
                _digest(session, current, username, s.policy, text, now)
            elif plain:
                rows[key] = {"username": username, "record_id": s.record.id, "kind": kind, "text": text, "key": key,
                             "created_at": now}
            else:
                notify(session, to=username, record_id=s.record.id, kind=kind, text=text, key=key, now=now)
    if rows:
        for key in session.scalars(select(Notification.key).where(Notification.key.in_(list(rows)))):
            rows.pop(key)
    if rows:
        session.execute(insert(Notification), list(rows.values()))


def _text(current, send: _Send, now: datetime) -> str:
    """The reminder's message, in the language `force_locale(_locale(current))` set around the call."""
    local = send.due.astimezone(current.bundle.tz).strftime("%Y-%m-%d %H:%M")
    title = send.record.title or f"#{send.record.id}"
    if now < send.due:
        text = gettext("Follow-up of %(title)s is due %(due)s (%(policy)s).", title=title, due=local,
                       policy=send.policy.label)
    else:
        text = gettext("Follow-up of %(title)s was due %(due)s and is overdue (%(policy)s).", title=title,
                       due=local, policy=send.policy.label)
    if send.reminder.escalation:
        text = gettext("Escalated: %(text)s Owner: %(owner)s.", text=text, owner=send.record.owner or "-")
    return text


def _digest(session: Session, current, username: str, policy: Policy, line: str, now: datetime):
    """One notification per person and day summing up the reminders missed while nothing ran."""
    day = now.astimezone(current.bundle.tz).date().isoformat()
    key = f"digest:{policy.key}:{username}:{day}"
    with force_locale(_locale(current)):
        head = gettext("Missed follow-up reminders (%(policy)s):", policy=policy.label)
    made = notify(session, to=username, record_id=None, kind="digest", text=f"{head}\n{line}", key=key, now=now)
    if made is None:  # already there: add the line in one statement, so concurrent workers never lose one
        session.execute(update(Notification).where(Notification.key == key)
                        .values(text=Notification.text + "\n" + line).execution_options(synchronize_session=False))


def _locale(current) -> str:
    """Messages are written in the bundle's language (SPEC §1 `locale`, zh-CN unless it says otherwise)."""
    return (current.bundle.locale or "zh-CN").replace("-", "_")
