"""Planning every record after a publish, a batch at a time: follow-ups set-based in SQL, time-driven
reclassification in Python.

A publish can change cadences for a million records; calling the per-record
planner for each would cost a million classifier runs and a dozen queries
apiece. Follow-ups are planned instead, for each batch of one object's
records that `schedule.after_publish` hands the planners (inside the
publish up to `schedule.INLINE` records, else after it in the workers'
`replan` chains), from one SELECT over the batch's ids that gives, per record and policy, the latest activity (a grouped
sub-query over the child rows) and the index of the first cadence entry
that holds (a CASE over the conditions compiled to SQL by
`engine.expr.sqlgen`). Due times depend only on (base day, cadence entry),
so they are computed once per distinct pair and shared; the writes are
executemany statements: new firings inserted, moved ones cancelled with
their reason, kept ones stamped with the new version. Conditions SQL cannot
express exactly (aggregates over activities, SQLite's float arithmetic…)
fall back to the Python evaluator on the stored values, batch by batch.

The time-driven reclassification instant needs the record's full values
and its children (`engine.timeline`), so it is planned in Python, a batch
at a time, from the records `schedule.after_publish` reads once for every
planner.

New records of a batched import come with their values in memory
(`schedule.Change`): their cadences and instants are computed from those,
as the per-record planners do, with the same writes.

The publish itself does only what concerns the whole workspace at once:
what can no longer apply (a removed policy, an object that no longer
depends on time) is cancelled, and due times of objects without a policy
cleared.
"""
from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import String, bindparam, select, text, update
from sqlalchemy.orm import Session

from engine import followup
from engine.expr.sqlgen import Layout, SqlCompiler, Unsupported
from engine.followup import Policy

from ..imports.inserts import insert_values
from ..models import Firing, Record, UtcDateTime
from ..records.expression_filter import layout_for
from . import followups, timed
from .schedule import PUBLISHED, Change, bulk_planner, published

#: records planned per statement round (bounded memory whatever the workspace's size)
BATCH = 5000
#: the largest id a record may have (a BIGINT's), for a range with no upper end
_LAST_ID = 2 ** 63 - 1

_FIRING = Firing.__table__
_RECORD = Record.__table__


@bulk_planner
def plan_all(session: Session, current, now: datetime, changes: list[Change] | None = None):
    """After a publish: the workspace-wide clean-ups of follow-ups and time-driven instants, and the objects
    whose records are planned a batch at a time (`schedule.after_publish`: in the publish, or after it by the
    workers' `replan` chains). With `changes` (such a batch, or a batched import's new records): their
    follow-ups (a publish's batch set-based over its ids) and their instants."""
    if changes is None:
        return _followups_cleanup(session, current, now) | _reclassify_cleanup(session, current, now)
    if changes:
        plan_followups(session, current, now, changes)
    plan_reclassify(session, current, now, changes)
    return None


# -- follow-ups -------------------------------------------------------------------------------------------


def plan_followups(session: Session, current, now: datetime, changes: list[Change] | None = None) -> dict:
    """Plan the follow-ups of every record under `current` with the workspace-wide clean-up (`changes` None),
    or of the records of `changes` only: a publish's batch (one object's records, in id order) set-based over
    its range of ids, a batched import's new records from their values in memory. Counts of what was kept,
    moved and planned."""
    counts = {"records": 0, "kept": 0, "cancelled": 0, "planned": 0, "due_changed": 0}
    for object_key, pols in _policies(current.bundle).items():
        planner = _Planner(session, current, object_key, pols, now, counts)
        if changes is None:
            planner.run()
            continue
        mine = [c for c in changes if c.record.object == object_key]
        if not mine:
            continue
        if mine[0].cause == PUBLISHED:
            planner.run(after=mine[0].record_id - 1, upto=mine[-1].record_id)
        else:
            planner.run_new(mine)
    if changes is None:
        _followups_cleanup(session, current, now)
    return counts


def _policies(bundle) -> dict[str, list[Policy]]:
    """object key -> its follow-up policies."""
    by_object: dict[str, list[Policy]] = {}
    for p in followup.policies(bundle):
        by_object.setdefault(p.object, []).append(p)
    return by_object


def _followups_cleanup(session: Session, current, now: datetime) -> set[str]:
    """What a publish does at once for follow-ups, whatever the number of records: the pending reminders of
    removed policies (or of a policy now on another object) cancelled, and the due times of records whose
    object has no policy any more cleared. The objects with policies are returned: their records are planned
    a batch at a time, and until a record's turn its reminders stay as they were — each one checks its due
    time under the rules current when it fires, and is cancelled if it moved (`followups._decide`)."""
    by_object = _policies(current.bundle)
    policy = _FIRING.c.payload["policy"].as_string()
    pending = update(_FIRING).where(_FIRING.c.kind == followups.KIND, _FIRING.c.status == "pending") \
        .values(status="cancelled", outcome="follow-up policy removed", finished_at=now)
    keys = [p.key for pols in by_object.values() for p in pols]
    session.execute(pending.where(policy.not_in(keys)) if keys else pending)
    for object_key, pols in by_object.items():
        session.execute(pending.where(policy.in_([p.key for p in pols]), _FIRING.c.record_id.in_(
            select(_RECORD.c.id).where(_RECORD.c.object != object_key))))
    stale = update(_RECORD).where(_RECORD.c.followup_due_at.is_not(None)).values(followup_due_at=None)
    if by_object:
        stale = stale.where(_RECORD.c.object.not_in(list(by_object)))
    session.execute(stale)
    return set(by_object)


class _Planner:
    """One object's records, batch after batch: read set-based, decide per row with shared due times, write."""

    def __init__(self, session: Session, current, object_key: str, policies: list[Policy], now: datetime,
                 counts: dict):
        self.session, self.current, self.object, self.policies, self.now = session, current, object_key, policies, now
        self.counts = counts
        self.bundle = current.bundle
        self.dialect = session.get_bind().dialect.name
        self.due_memo: dict = {}
        self.chain_memo: dict = {}

    def _statement(self):
        bundle, pg = self.bundle, self.dialect == "postgresql"
        base = layout_for(bundle, self.object, self.dialect)
        layout = Layout(base.names, base.children, alias="r")
        local = self.now.astimezone(bundle.tz)
        params: dict = {"object": self.object}
        columns, in_python = [], set()
        for i, p in enumerate(self.policies):
            if p.activity is None:
                columns.append(f"NULL AS last_{i}")
            else:
                params[f"act_{i}"] = p.activity
                what = ("a.created_at" if p.activity_time == "created_at" else
                        f"a.data ->> '{p.activity_time}'" if pg else f"json_extract(a.data, '$.{p.activity_time}')")
                columns.append(f"(SELECT MAX({what}) FROM records a WHERE a.parent_id = r.id "
                               f"AND a.object = :act_{i}) AS last_{i}")
            try:
                whens = []
                for entry in p.cadence:
                    checked = bundle.checked[("followup", _index(bundle, p), "cadence", entry.index, "when")]
                    cond, _ = SqlCompiler(checked, self.dialect, layout, bundle.module, today=local.date(), now=local,
                                          tz=bundle.tz, params=params).condition()
                    whens.append(f"WHEN {cond} THEN {entry.index}")
                columns.append(f"CASE {' '.join(whens)} END AS cad_{i}" if whens else f"NULL AS cad_{i}")
            except Unsupported:
                in_python.add(i)
                columns.append(f"NULL AS cad_{i}")
        sql = (f"SELECT r.id, r.created_at, r.followup_due_at, {', '.join(columns)} FROM records r "
               f"WHERE r.object = :object AND r.id > :after AND r.id <= :upto ORDER BY r.id LIMIT :limit")
        types = {"created_at": UtcDateTime(), "followup_due_at": UtcDateTime()}
        for i, p in enumerate(self.policies):
            types[f"last_{i}"] = UtcDateTime() if p.activity_time == "created_at" else String()
        return text(sql).columns(**types), params, in_python

    def run(self, after: int = 0, upto: int | None = None):
        """The object's records with ids in (`after`, `upto`], a batch at a time."""
        sql, params, in_python = self._statement()
        upto = _LAST_ID if upto is None else upto
        while True:
            rows = self.session.execute(sql, {**params, "after": after, "upto": upto, "limit": BATCH}).all()
            if not rows:
                return
            dues = self._batch(rows, in_python, self._python_cadence(rows, in_python) if in_python else {})
            if dues:
                _set_dues(self.session, self.dialect, dues)
            after = rows[-1].id
            self.counts["records"] += len(rows)

    def run_new(self, changes: list[Change]):
        """The new records of `changes` (in id order): no activity yet, cadences from their values in memory;
        a record not stored yet takes its due time in memory, for its INSERT."""
        if not changes:
            return
        rows, cadence = [], {}
        for change in changes:
            record = change.record
            rows.append(SimpleNamespace(id=record.id, created_at=record.created_at,
                                        followup_due_at=record.followup_due_at,
                                        **{f"last_{i}": None for i in range(len(self.policies))}))
            if "cadence" in change.ahead:
                cadence.update({(record.id, i): index for i, index in enumerate(change.ahead["cadence"])})
            else:
                self._cadence(cadence, record.id, followups.cadence_values(self.session, self.current, change,
                                                                           self.policies))
        dues = self._batch(rows, set(range(len(self.policies))), cadence)
        by_id = {change.record_id: change for change in changes}
        for due in dues:
            if not by_id[due["rid"]].stored:
                by_id[due["rid"]].record.followup_due_at = due["due"]
        stored = [due for due in dues if by_id[due["rid"]].stored]
        if stored:
            _set_dues(self.session, self.dialect, stored)
        self.counts["records"] += len(rows)

    def _batch(self, rows, in_python: set, python_cadence: dict) -> list[dict]:
        """Plan the rows (id order): cadences from the SQL columns, or for the policies in `in_python` from
        `python_cadence` ((record id, policy index) -> cadence entry index). The rows' new due times, for the
        caller to store."""
        session, now, version = self.session, self.now, self.current.version
        lo, hi = rows[0].id, rows[-1].id
        pending: dict[tuple[int, str], list] = {}
        for f in session.execute(select(_FIRING.c.id, _FIRING.c.record_id, _FIRING.c.payload)
                                 .where(_FIRING.c.kind == followups.KIND, _FIRING.c.status == "pending",
                                        _FIRING.c.record_id.between(lo, hi))):
            pending.setdefault((f.record_id, f.payload.get("policy")), []).append(f)
        keep, cancel, new, dues = [], [], {}, []
        for row in rows:
            earliest = None
            for i, p in enumerate(self.policies):
                cad = python_cadence.get((row.id, i)) if i in in_python else getattr(row, f"cad_{i}")
                last = getattr(row, f"last_{i}")
                if last is not None and not isinstance(last, datetime):
                    last = followup.activity_instant(self.bundle, last)
                due = self._due(p, last or row.created_at, cad)
                due_text = due.isoformat() if due is not None else None
                kept = False
                for f in pending.get((row.id, p.key), ()):
                    if f.payload.get("due") == due_text:
                        keep.append(f.id)
                        kept = True
                    else:
                        cancel.append({"fid": f.id, "reason": "no cadence entry holds any more: no follow-up due"
                                       if due is None else f"due time moved from {f.payload.get('due')} to {due_text}"})
                if due is not None and not kept and (first := self._first_ahead(p, due)) is not None:
                    step, index, at = first
                    key = followups.key_of(p, row.id, due, index)
                    new[key] = {"key": key, "kind": followups.KIND, "record_id": row.id, "due_at": at,
                                "payload": {"policy": p.key, "due": due_text, "reminder": index, "step": step},
                                "bundle_version": version, "status": "pending", "outcome": "", "attempts": 0,
                                "created_at": now}
                if due is not None and (earliest is None or due < earliest):
                    earliest = due
            if row.followup_due_at != earliest:
                dues.append({"rid": row.id, "due": earliest})
        if cancel:
            session.execute(update(_FIRING).where(_FIRING.c.id == bindparam("fid"))
                            .values(status="cancelled", outcome=bindparam("reason"), finished_at=now), cancel)
        if keep:
            session.execute(update(_FIRING).where(_FIRING.c.id.in_(keep)).values(bundle_version=version))
        if new:
            self._insert(new)
        self.counts["kept"] += len(keep)
        self.counts["cancelled"] += len(cancel)
        self.counts["due_changed"] += len(dues)
        return dues

    def _insert(self, new: dict):
        """Insert new reminder firings; one whose key exists comes back if cancelled, stays if it fired."""
        session = self.session
        existing = session.execute(select(_FIRING.c.id, _FIRING.c.key, _FIRING.c.status)
                                   .where(_FIRING.c.key.in_(list(new)))).all()
        revive = []
        for f in existing:
            row = new.pop(f.key)
            if f.status == "cancelled":
                revive.append({"fid": f.id, "due_at": row["due_at"], "payload": row["payload"]})
        if revive:
            session.execute(update(_FIRING).where(_FIRING.c.id == bindparam("fid"))
                            .values(status="pending", due_at=bindparam("due_at"), payload=bindparam("payload"),
                                    outcome="", finished_at=None, bundle_version=self.current.version), revive)
        if new:
            insert_values(session, _FIRING, list(new.values()))
        self.counts["planned"] += len(new) + len(revive)

    def _due(self, p: Policy, base: datetime, cad) -> datetime | None:
        if cad is None:
            return None
        entry = next(e for e in p.cadence if e.index == int(cad))
        day_based = entry.every.total_seconds() % 86400 == 0
        memo_key = (p.key, entry.index, base.astimezone(self.bundle.tz).date() if day_based else base)
        due = self.due_memo.get(memo_key)
        if due is None:
            due = self.due_memo[memo_key] = followup.due_after(self.bundle, p, base, entry.every)
        return due

    def _first_ahead(self, p: Policy, due: datetime):
        memo_key = (p.key, due)
        if memo_key not in self.chain_memo:
            chain = followup.reminder_times(self.bundle, p, due)
            self.chain_memo[memo_key] = next(((step, r.index, at) for step, (r, at) in enumerate(chain)
                                              if at > self.now), None)
        return self.chain_memo[memo_key]

    def _python_cadence(self, rows, in_python: set) -> dict:
        """Cadence indexes for the policies SQL could not express, from the stored values."""
        records = self.session.scalars(select(Record).where(Record.id.in_([r.id for r in rows]))).all()
        out: dict = {}
        pols = [p for i, p in enumerate(self.policies) if i in in_python]
        for record in records:
            self._cadence(out, record.id, followups.values_of(self.session, self.current, record, pols, self.now),
                          in_python)
        for record in records:
            self.session.expunge(record)
        return out

    def _cadence(self, out: dict, record_id: int, values: dict, in_python: set | None = None):
        """Put the index of each policy's (of those in `in_python`, default all) cadence entry for `values`."""
        for i, p in enumerate(self.policies):
            if in_python is None or i in in_python:
                entry = followup.cadence_of(self.bundle, p, values, self.now)
                out[(record_id, i)] = None if entry is None else entry.index


def _set_dues(session: Session, dialect: str, dues: list[dict]):
    """Store many records' due times: on PostgreSQL one UPDATE … FROM unnest(ids, dues), else executemany."""
    if dialect != "postgresql":
        session.execute(update(_RECORD).where(_RECORD.c.id == bindparam("rid"))
                        .values(followup_due_at=bindparam("due")), dues)
        return
    session.execute(text("UPDATE records SET followup_due_at = v.due "
                         "FROM unnest(CAST(:ids AS bigint[]), CAST(:dues AS timestamptz[])) AS v(id, due) "
                         "WHERE records.id = v.id"),
                    {"ids": [d["rid"] for d in dues], "dues": [d["due"] for d in dues]})


def _index(bundle, policy: Policy) -> int:
    """The policy's position in the bundle's `followup` list (where its checked conditions are kept)."""
    return next(i for i, spec in enumerate(bundle.document.get("followup") or []) if spec.get("key") == policy.key)


# -- time-driven reclassification -------------------------------------------------------------------------


def plan_reclassify(session: Session, current, now: datetime, changes: list[Change] | None = None) -> int:
    """Plan the next reclassification instant of each record of `changes` whose object depends on time, or
    (None) of every record, as after a publish; the number of records planned."""
    if changes is None:
        planned = 0
        for object_key in sorted(_reclassify_cleanup(session, current, now)):
            for batch in published(session, current, object_key, now):
                planned += plan_reclassify(session, current, now, batch)
                session.flush()
                session.expunge_all()
        return planned
    bundle = current.bundle
    planned = 0
    for object_key in _time_dependent(bundle):
        mine = [c for c in changes if c.record.object == object_key]
        if mine:
            timeline = bundle.classifier(object_key).timeline
            wanted = {c.record_id: c.ahead["next_change"] if "next_change" in c.ahead
                      else timeline.next_change(c.typed(session, current), now) for c in mine}
            planned += _sync_reclassify(session, current, list(wanted), _keyed(wanted), now)
    return planned


def _time_dependent(bundle) -> list[str]:
    """The top-level objects whose values change with time alone."""
    return [k for k, obj in bundle.objects.items()
            if obj.parent is None and bundle.classifier(k).timeline.depends_on_time]


def _reclassify_cleanup(session: Session, current, now: datetime) -> set[str]:
    """Cancel the pending instants from older versions of the records that no longer depend on time (those
    that do are planned one by one, their pending instant kept or moved); the objects that do."""
    dependent = _time_dependent(current.bundle)
    stale = update(_FIRING).where(_FIRING.c.kind == timed.KIND, _FIRING.c.status == "pending",
                                  _FIRING.c.bundle_version != current.version)
    if dependent:
        stale = stale.where(_FIRING.c.record_id.not_in(
            select(_RECORD.c.id).where(_RECORD.c.object.in_(dependent), _RECORD.c.parent_id.is_(None))))
    session.execute(stale.values(status="cancelled", outcome="values no longer change with time", finished_at=now))
    return set(dependent)


def _keyed(instants: dict) -> dict:
    """record id -> (firing key, instant) of the records with a next instant."""
    return {rid: (timed.key_of(rid, at), at) for rid, at in instants.items() if at is not None}


def _sync_reclassify(session: Session, current, ids: list[int], wanted: dict, now: datetime) -> int:
    keep, cancel = [], []
    for f in session.execute(select(_FIRING.c.id, _FIRING.c.record_id, _FIRING.c.key)
                             .where(_FIRING.c.kind == timed.KIND, _FIRING.c.status == "pending",
                                    _FIRING.c.record_id.in_(ids))):
        if f.record_id in wanted and wanted[f.record_id][0] == f.key:
            keep.append(f.id)
            del wanted[f.record_id]
        else:
            cancel.append(f.id)
    if cancel:
        session.execute(update(_FIRING).where(_FIRING.c.id.in_(cancel))
                        .values(status="cancelled", outcome="values now change at another time", finished_at=now))
    if keep:
        session.execute(update(_FIRING).where(_FIRING.c.id.in_(keep)).values(bundle_version=current.version))
    rows = {key: {"key": key, "kind": timed.KIND, "record_id": rid, "due_at": at, "payload": {"at": at.isoformat()},
                  "bundle_version": current.version, "status": "pending", "outcome": "", "attempts": 0,
                  "created_at": now} for rid, (key, at) in wanted.items()}
    if rows:
        for f in session.execute(select(_FIRING.c.id, _FIRING.c.key, _FIRING.c.status)
                                 .where(_FIRING.c.key.in_(list(rows)))).all():
            rows.pop(f.key)
            if f.status == "cancelled":
                session.execute(update(_FIRING).where(_FIRING.c.id == f.id)
                                .values(status="pending", outcome="", finished_at=None,
                                        bundle_version=current.version))
        if rows:
            insert_values(session, _FIRING, list(rows.values()))
    return len(rows) + len(keep)
