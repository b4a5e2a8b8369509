"""What publishing a draft would set in motion beyond the values themselves: follow-ups, pools, automations.

`designer.bundles.impact.preview` says which values change; the admin also
needs to know what work that creates before they publish: follow-ups that
would become due (or stop being due) and the reminders planned or cancelled
with them, records the pool rules would take back at once (their condition holds now and the
protection after a claim is over), and how many
records each date or scheduled automation would act on. Each record is run
through the draft in Python, so this looks at up to `LIMIT` records per
object and says when it stopped short. Nothing is written.
"""
from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Bundle, followup
from engine.durations import parse_duration
from engine.expr.codegen import compile_expression

from ..models import Firing, Record
from ..records.store import children_of_many, raw_of
from ..workflows.pools import pools_of

#: Records looked at per object (a few seconds' work); beyond it the counts are marked incomplete.
LIMIT = 5_000
BATCH = 500


def effects(session: Session, bundle: Bundle, now: datetime, limit: int = LIMIT) -> dict:
    """{"followups": {...}, "pool_entries": n, "pools": {key: n}, "automations": {key: n}, "looked_at", "complete"}."""
    out = {"followups": {"created": 0, "cancelled": 0, "moved": 0, "reminders_created": 0, "reminders_cancelled": 0},
           "pool_entries": 0, "pools": {}, "automations": {}, "looked_at": 0, "complete": True}
    for key, obj in bundle.objects.items():
        if obj.parent is not None:
            continue
        work = _Work(bundle, key, now)
        if not work.anything:
            continue
        for spec in work.automations:
            out["automations"].setdefault(spec["key"], 0)
        for pool, _ in work.pools:
            out["pools"].setdefault(pool.key, 0)
        looked, last = 0, 0
        while looked < limit:
            rows = session.scalars(select(Record).where(Record.object == key, Record.id > last)
                                   .order_by(Record.id).limit(min(BATCH, limit - looked))).all()
            if not rows:
                break
            ids = [r.id for r in rows]
            kids = children_of_many(session, ids, obj.children)
            pending = dict(session.execute(
                select(Firing.record_id, func.count()).where(Firing.record_id.in_(ids), Firing.kind == "reminder",
                                                             Firing.status == "pending")
                .group_by(Firing.record_id)).all())
            for record in rows:
                work.record(record, kids[record.id], pending.get(record.id, 0), out)
            looked += len(rows)
            last = rows[-1].id
            for record in rows:  # bound memory: nothing here is changed, so the rows can go
                session.expunge(record)
            for rows_of_child in kids.values():
                for children in rows_of_child.values():
                    for child in children:
                        session.expunge(child)
        else:
            more = session.scalar(select(func.count()).select_from(Record).where(Record.object == key, Record.id > last))
            out["complete"] = out["complete"] and not more
        out["looked_at"] += looked
    return out


class _Work:
    """One object's follow-up policies, pools and date/scheduled automations under the draft, compiled once."""

    def __init__(self, bundle: Bundle, key: str, now: datetime):
        self.bundle, self.key, self.now = bundle, key, now
        self.clf = bundle.classifier(key)
        self.policies = followup.policies(bundle, key)
        self.pools = [(p, compile_expression(bundle.module, bundle.checked[p.path], f"reclaim_{n}", mode="truth"))
                      for n, p in enumerate(pools_of(bundle, key)) if p.path in bundle.checked]
        self.automations = [a for a in bundle.document.get("automations") or ()
                            if isinstance(a, dict) and a.get("object") == key and a.get("on") in ("date", "schedule")]
        self.conditions = {}
        for i, spec in enumerate(bundle.document.get("automations") or ()):
            checked = bundle.checked.get(("automations", i, "when"))
            if spec in self.automations and checked is not None:
                self.conditions[spec["key"]] = compile_expression(bundle.module, checked, f"when_{i}", mode="truth")
        self.anything = bool(self.policies or self.pools or self.automations)

    def record(self, record: Record, children: dict, pending_reminders: int, out: dict):
        typed = self.clf.coerce(raw_of(record, children), problems=[])
        full = self.clf.classify(typed, self.now).record_with_values()
        today, local = self.clf.clock(self.now)
        self._followup(record, full, pending_reminders, out["followups"])
        if record.pool is None and record.owner:
            for pool, reclaim in self.pools:
                if reclaim(full, today, local, None, None) and not self._protected(pool, record):
                    out["pools"][pool.key] += 1
                    out["pool_entries"] += 1
                    break
        for spec in self.automations:
            fn = self.conditions.get(spec["key"])
            if fn is not None and not fn(full, today, local, None, None):
                continue
            if spec.get("on") == "schedule" or self._date_ahead(spec, full):
                out["automations"][spec["key"]] += 1

    def _followup(self, record: Record, full: dict, pending: int, counts: dict):
        due = None
        chosen = None
        for policy in self.policies:
            last = None
            if policy.activity:
                times = [followup.activity_instant(self.bundle, row.get(policy.activity_time))
                         for row in full.get(policy.activity) or ()]
                last = max((t for t in times if t is not None), default=None)
            at = followup.next_due(self.bundle, policy, full, last, record.created_at or self.now, self.now)
            if at is not None and (due is None or at < due):
                due, chosen = at, policy
        old = record.followup_due_at
        if due == old:
            return
        if old is None:
            counts["created"] += 1
        elif due is None:
            counts["cancelled"] += 1
        else:
            counts["moved"] += 1
        counts["reminders_cancelled"] += pending
        if due is not None:
            counts["reminders_created"] += sum(1 for _, at in followup.reminder_times(self.bundle, chosen, due)
                                               if at > self.now)

    def _protected(self, pool, record: Record) -> bool:
        """Is the record still inside the pool's protection after it was claimed or assigned?"""
        since = record.owned_since or record.created_at
        return bool(pool.protect and since and since + pool.protect > self.now)

    def _date_ahead(self, spec: dict, full: dict) -> bool:
        """Is the date automation's moment for this record still ahead (so publishing plans it)?"""
        value = full.get(spec.get("field"))
        if value is None:
            return False
        start = value.astimezone(self.bundle.tz) if isinstance(value, datetime) else \
            datetime.combine(value, time(9), tzinfo=self.bundle.tz)
        return start + parse_duration(spec.get("offset") or "0d") > self.now
