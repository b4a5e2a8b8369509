"""Public pools (公海, SPEC §6): reclaiming records into a pool, warning before, claiming and returning.

When a record's owner changes or it is saved, the planner works out when
its pool's `reclaim_when` will first hold (with `engine.timeline`'s crossing
instants — exact, not a nightly sweep), moves that to the end of the
`protect` window, and keeps one pending `pool_reclaim` firing (plus a
`pool_warn` `warn_before` earlier) for that instant. A save that makes the
condition false cancels them in the save's transaction. When the firing
runs, everything is checked again on the locked record (deleted, owner
changed, condition or protection no longer true, rules republished →
cancelled with the reason), so a record the rep is about to close is not
taken away.

Claiming is one conditional UPDATE (`... WHERE pool = :pool AND owner IS
NULL`): of two users claiming at once exactly one changes the row. Before
it, a row lock on the claimer's counter serialises that user's claims so
the per-day and hold limits cannot be overrun by parallel requests.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import has_request_context
from flask_babel import force_locale, gettext
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.durations import parse_duration
from engine.timeline import Timeline

from ..imports.inserts import insert_values
from ..models import Counter, Firing, Record, Team, User, WorkflowEvent
from . import notify
from .actions import compiled, typed_values
from .schedule import Cancel, Change, after_change, bulk_planner, cancel, handler, plan, planner

KINDS = ("pool_reclaim", "pool_warn")
BATCH = 1000


@dataclass(frozen=True)
class Pool:
    """One `pool:` entry of the bundle, with its durations parsed."""

    key: str
    object: str
    label: str
    index: int
    members: tuple | None
    reclaim_when: str | None
    warn_before: timedelta | None
    protect: timedelta | None
    hold_limit: int | None
    claim_limit_per_day: int | None
    reclaim_cooldown: timedelta | None

    @property
    def path(self) -> tuple:
        return ("pool", self.index, "reclaim_when")


def _(message: str, current, **params) -> str:
    """`message` translated: in the user's language during a request, else in the bundle's (worker, CLI)."""
    if has_request_context():
        return gettext(message, **params)
    with force_locale((current.bundle.locale or "zh-CN").replace("-", "_")):
        return gettext(message, **params)


class PoolRefused(Exception):
    """A claim or return that cannot happen; `limit` names the rule that blocked it, `message` what to do."""

    def __init__(self, limit: str, message: str):
        self.limit, self.message = limit, message
        super().__init__(message)


_pools: dict = {}


def pools(bundle) -> list[Pool]:
    """The bundle's pools, in document order (parsed once per bundle)."""
    got = _pools.get(id(bundle))
    if got is None or got[0] is not bundle:
        out = []
        for i, spec in enumerate(bundle.document.get("pool") or []):
            if not isinstance(spec, dict) or spec.get("object") not in bundle.objects:
                continue
            dur = {k: parse_duration(spec[k]) if spec.get(k) else None
                   for k in ("warn_before", "protect", "reclaim_cooldown")}
            out.append(Pool(key=spec["key"], object=spec["object"], label=spec.get("label") or spec["key"], index=i,
                            members=tuple(spec["members"]) if spec.get("members") else None,
                            reclaim_when=spec.get("reclaim_when"), hold_limit=spec.get("hold_limit"),
                            claim_limit_per_day=spec.get("claim_limit_per_day"), **dur))
        got = (bundle, out)
        if len(_pools) > 16:
            _pools.clear()
        _pools[id(bundle)] = got
    return got[1]


def pools_of(bundle, object_key: str) -> list[Pool]:
    return [p for p in pools(bundle) if p.object == object_key]


def pool_for(bundle, object_key: str, key: str | None = None) -> Pool | None:
    """The pool `key` of the object, or its first pool when `key` is None."""
    return next((p for p in pools_of(bundle, object_key) if key is None or p.key == key), None)


def is_member(session: Session, pool: Pool, user: User) -> bool:
    """Whether `user` may see and claim the pool's records (`members`: usernames or team names)."""
    if pool.members is None:
        return True
    if user.username in pool.members:
        return True
    team = session.get(Team, user.team_id) if user.team_id is not None else None
    return team is not None and team.name in pool.members


def pools_open_to(session: Session, bundle, user: User) -> list[str] | None:
    """Keys of the pools whose records `user` may see; None when that is every pool."""
    all_pools = pools(bundle)
    if all(p.members is None for p in all_pools):
        return None
    return [p.key for p in all_pools if is_member(session, p, user)]


# -- when a record will be reclaimed --------------------------------------------------------------------------

class _ConditionTimeline(Timeline):
    """Crossing instants of one condition (reclaim_when), on top of those of the values it reads."""

    def __init__(self, classifier, checked):
        self.classifier = classifier
        self.bundle = classifier.bundle
        self.crossings, self.coarse = [], set()
        self._scan(checked)
        self.depends_on_time = bool(self.crossings or self.coarse) or classifier.timeline.depends_on_time


_timelines: dict = {}


def holds_from(bundle, pool: Pool, typed: dict, now: datetime) -> datetime | None:
    """The first instant from `now` at which the pool's `reclaim_when` holds for the (coerced) record."""
    if pool.path not in bundle.checked:
        return None
    clf = bundle.classifier(pool.object)
    fn = compiled(bundle, pool.path)
    first = clf.classify(typed, now)
    full = first.record_with_values()
    today, local = clf.clock(now)
    if fn(full, today, local, None, None):
        return now
    key = (id(bundle), pool.path)
    tl = _timelines.get(key)
    if tl is None or tl.bundle is not bundle:
        tl = _timelines[key] = _ConditionTimeline(clf, bundle.checked[pool.path])
    if not tl.depends_on_time:
        return None
    candidates = sorted(set(tl.candidates(full, now)) | set(clf.timeline.candidates(full, now)))
    for at in candidates:
        today, local = clf.clock(at)
        if fn(clf.classify(typed, at).record_with_values(), today, local, None, None):
            return at
    return None


def _desired(bundle, record: Record, typed: dict, now: datetime) -> list[tuple]:
    """(key, kind, due, payload) of the firings the record should have pending now."""
    if record.pool is not None or not record.owner:
        return []
    best = None
    for pool in pools_of(bundle, record.object):
        at = holds_from(bundle, pool, typed, now)
        if at is not None and (best is None or at < best[1]):
            best = (pool, at)
    if best is None:
        return []
    pool, at = best
    since = record.owned_since or record.created_at
    due = max(at, since + pool.protect) if pool.protect and since else at
    since_ts = _stamp(since)
    # one reclaim per ownership (owner and the instant they got it) and due time
    stamp = f"{record.id}:{record.owner}:{since_ts}:{int(due.timestamp())}"
    reclaim_key = f"pool_reclaim:{stamp}"
    payload = {"pool": pool.key, "owner": record.owner, "due": due.isoformat(), "owned_since": since_ts}
    out = [(reclaim_key, "pool_reclaim", due, payload)]
    if pool.warn_before and due > now:
        out.append((f"pool_warn:{stamp}", "pool_warn", max(now, due - pool.warn_before),
                    {**payload, "reclaim_key": reclaim_key}))
    return out


def _stamp(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f") if at else "-"


@planner
def plan_record(session: Session, current, change: Change):
    """Keep the record's pending reclaim and warning in step with the change (in the change's transaction)."""
    record = change.record
    if record is None:
        cancel(session, record_id=change.record_id, kinds=KINDS, reason="record deleted", now=change.now)
        return
    if record.parent_id is not None:
        return
    bundle = current.bundle
    if not pools_of(bundle, record.object):
        cancel(session, record_id=record.id, kinds=KINDS, reason="the object has no pool any more", now=change.now)
        return
    desired = _desired(bundle, record, change.typed(session, current), change.now)
    for key, kind, due, payload in desired:
        plan(session, key=key, kind=kind, record_id=record.id, due_at=due, payload=payload, version=current.version)
    keep = tuple(k for k, *_ in desired)
    cancel(session, record_id=record.id, kinds=KINDS, reason=_why_not(record, desired, change), now=change.now,
           keep=keep)


def _why_not(record, desired, change) -> str:
    if record.pool is not None:
        return f"record entered pool {record.pool}"
    if not record.owner:
        return "record has no owner"
    if not desired:
        return f"reclaim_when no longer expected to hold ({change.cause})"
    return f"reclaim moved to {desired[0][2].isoformat()} ({change.cause})"


@bulk_planner
def plan_all(session: Session, current, now: datetime, changes: list[Change] | None = None):
    """After a publish: reclaims of records no longer planned cancelled, and the objects with a pool (their
    owned records are planned a batch at a time, `schedule.after_publish`). With `changes` (a publish's
    batch, or a batched import's new records) those of them that are owned and out of the pool."""
    objects = sorted({p.object for p in pools(current.bundle)})
    if changes is not None:
        mine = [c for c in changes
                if c.record.object in objects and c.record.pool is None and c.record.owner is not None]
        if mine:
            _sync(session, current, [(c.record, c.typed(session, current)) for c in mine], now)
        return None
    stale = select(Record.id).where(Record.object.not_in(objects) | Record.pool.is_not(None) | Record.owner.is_(None))
    session.execute(update(Firing).where(Firing.status == "pending", Firing.kind.in_(KINDS),
                                         Firing.record_id.in_(stale))
                    .values(status="cancelled", outcome="rules published: no reclaim planned", finished_at=now)
                    .execution_options(synchronize_session=False))
    return set(objects)


def _sync(session, current, records: list[tuple], now: datetime):
    """Make the pending reclaims and warnings of the (record, typed values) pairs those `_desired` gives."""
    desired = {}
    for record, typed in records:
        for key, kind, due, payload in _desired(current.bundle, record, typed, now):
            desired[key] = (record.id, kind, due, payload)
    sync_pending(session, current, [record.id for record, _typed in records], KINDS, desired, now,
                 "rules published: reclaim moved or no longer planned")


def sync_pending(session, current, ids: list[int], kinds: tuple, desired: dict, now: datetime, reason: str):
    """Make the pending firings of `kinds` of records `ids` exactly `desired` (key -> (record id, kind, due,
    payload)): one read and set-based writes per batch, for the bulk planners (also automations' dates)."""
    existing = {key: (fid, status, due, version) for fid, key, status, due, version in session.execute(
        select(Firing.id, Firing.key, Firing.status, Firing.due_at, Firing.bundle_version)
        .where(Firing.record_id.in_(ids), Firing.kind.in_(kinds)))}
    new = [{"key": key, "kind": kind, "record_id": rid, "due_at": due, "payload": payload, "status": "pending",
            "bundle_version": current.version, "outcome": "", "attempts": 0, "created_at": now}
           for key, (rid, kind, due, payload) in desired.items() if key not in existing]
    moved = [{"id": existing[key][0], "due_at": due, "payload": payload, "bundle_version": current.version}
             for key, (rid, kind, due, payload) in desired.items()
             if key in existing and existing[key][1] == "pending" and existing[key][2:] != (due, current.version)]
    drop = [fid for key, (fid, status, *_) in existing.items() if status == "pending" and key not in desired]
    if new:
        insert_values(session, Firing.__table__, new)
    if moved:
        session.execute(update(Firing), moved)
    if drop:
        session.execute(update(Firing).where(Firing.id.in_(drop))
                        .values(status="cancelled", outcome=reason, finished_at=now)
                        .execution_options(synchronize_session=False))


# -- firing -----------------------------------------------------------------------------------------------------

def _locked(session, firing: Firing) -> Record:
    record = session.get(Record, firing.record_id, with_for_update=True, populate_existing=True)
    if record is None:
        raise Cancel("record deleted")
    if record.pool is not None:
        raise Cancel(f"record is already in pool {record.pool}")
    since = record.owned_since or record.created_at
    if record.owner != firing.payload.get("owner") or \
            _stamp(since) != firing.payload.get("owned_since"):
        raise Cancel(f"owner changed since it was planned ({firing.payload.get('owner')} → {record.owner or '—'})")
    return record


def _replan(session, current, record, now, why: str) -> str:
    """The firing's premise no longer holds but the record stays owned: plan what applies now, say why."""
    plan_record(session, current, Change(record, record.id, "checked at firing", now))
    nxt = session.scalar(select(Firing.due_at).where(Firing.record_id == record.id, Firing.status == "pending",
                                                     Firing.kind == "pool_reclaim"))
    return f"not reclaimed: {why}; " + (f"next check {nxt.isoformat()}" if nxt else "no reclaim planned")


@handler("pool_reclaim")
def reclaim(session: Session, current, firing: Firing, now: datetime) -> str:
    """Put the record into its pool if, now and on the locked row, the rule current now says so (a firing
    planned under an older version is decided under the newer rules: after a large publish the records are
    planned again in the background, `replan`, and until a record is reached its old firing stands in)."""
    record = _locked(session, firing)
    bundle = current.bundle
    values = typed_values(session, current, record, now)
    today, local = bundle.classifier(record.object).clock(now)
    pool = next((p for p in pools_of(bundle, record.object)
                 if p.path in bundle.checked and compiled(bundle, p.path)(values, today, local, None, None)), None)
    if pool is None:
        return _replan(session, current, record, now, "reclaim_when no longer holds")
    since = record.owned_since or record.created_at
    if pool.protect and since and since + pool.protect > now:
        return _replan(session, current, record, now, f"protected until {(since + pool.protect).isoformat()}")
    owner, title = record.owner, record.title or f"#{record.id}"
    reason = _("%(pool)s: %(rule)s held", current, pool=pool.label, rule=pool.reclaim_when)
    put_in_pool(session, current, record, pool, reason, now, kind="pool_in", actor=None)
    notify.notify(session, to=owner, record_id=record.id, kind="pool_reclaim", key=f"{firing.key}:owner", now=now,
                  text=_("“%(title)s” went back to %(pool)s: %(reason)s", current, title=title,
                         pool=pool.label, reason=reason))
    return f"reclaimed into {pool.key} from {owner}"


@handler("pool_warn")
def warn(session: Session, current, firing: Firing, now: datetime) -> str:
    """Tell the owner the record goes back to the pool soon, if that reclaim is still planned."""
    record = _locked(session, firing)
    planned = session.scalar(select(Firing.status).where(Firing.key == firing.payload.get("reclaim_key")))
    if planned != "pending":
        raise Cancel("the reclaim it warned about is no longer planned")
    pool = pool_for(current.bundle, record.object, firing.payload.get("pool"))
    if pool is None:
        raise Cancel("the pool no longer exists")
    due = datetime.fromisoformat(firing.payload["due"]).astimezone(current.bundle.tz)
    title = record.title or f"#{record.id}"
    text = _("“%(title)s” goes back to %(pool)s on %(when)s unless you follow it up (%(rule)s).", current,
             title=title, pool=pool.label, when=due.strftime("%Y-%m-%d %H:%M"),
             rule=pool.reclaim_when)
    notify.notify(session, to=record.owner, record_id=record.id, kind="pool_warn", text=text,
                  key=f"{firing.key}:owner", now=now)
    session.add(WorkflowEvent(record_id=record.id, at=now, kind="pool_warn", rule=pool.key, actor=record.owner,
                              cause=text, detail={"due": firing.payload["due"]}))
    return f"warned {record.owner}"


# -- into and out of the pool ---------------------------------------------------------------------------------

def put_in_pool(session: Session, current, record: Record, pool: Pool, reason: str, now: datetime, *,
                kind: str, actor: str | None):
    """Take the record from its owner into `pool`, keeping who had it, when and why; re-plan its workflows."""
    previous = record.owner
    record.owner, record.owned_since = None, None
    record.pool, record.pool_since, record.pool_reason, record.previous_owner = pool.key, now, reason, previous
    session.flush()
    session.add(WorkflowEvent(record_id=record.id, at=now, kind=kind, rule=pool.key, cause=reason, actor=previous,
                              detail={"by": actor, "pool": pool.label}))
    after_change(session, current, Change(record, record.id, "returned" if kind == "pool_return" else "reclaimed",
                                          now, actor, dict(record.data or {}), dict(record.computed or {}), previous))


def return_to_pool(session: Session, current, record: Record, user: User, reason: str, now: datetime,
                   pool_key: str | None = None) -> Pool:
    """The owner (or a manager/admin who sees it) gives the record back to the pool, saying why."""
    reason = (reason or "").strip()
    if not reason:
        raise PoolRefused("reason", _("Say why the record goes back to the pool.", current))
    if record.pool is not None:
        raise PoolRefused("pool", _("The record is already in the pool.", current))
    if record.owner != user.username and user.role not in ("admin", "manager"):
        raise PoolRefused("owner", _("Only the owner can return this record to the pool.", current))
    pool = pool_for(current.bundle, record.object, pool_key)
    if pool is None:
        raise PoolRefused("pool", _("This kind of record has no public pool.", current))
    put_in_pool(session, current, record, pool, reason[:1000], now, kind="pool_return", actor=user.username)
    return pool




@dataclass
class Standing:
    """What a user may still do in a pool today."""

    claimed_today: int
    claim_limit: int | None
    holding: int
    hold_limit: int | None

    @property
    def claims_left(self) -> int | None:
        return None if self.claim_limit is None else max(0, self.claim_limit - self.claimed_today)


def standing(session: Session, current, pool: Pool, user: User, now: datetime) -> Standing:
    start = datetime.combine(now.astimezone(current.bundle.tz).date(), time(0), tzinfo=current.bundle.tz)
    claimed = session.scalar(select(func.count()).select_from(WorkflowEvent).where(
        WorkflowEvent.actor == user.username, WorkflowEvent.kind == "pool_claim", WorkflowEvent.rule == pool.key,
        WorkflowEvent.at >= start)) or 0
    holding = session.scalar(select(func.count()).select_from(Record).where(
        Record.object == pool.object, Record.owner == user.username)) or 0
    return Standing(claimed, pool.claim_limit_per_day, holding, pool.hold_limit)


def claim(session: Session, current, record_id: int, user: User, now: datetime) -> Record:
    """Make `user` the owner of a pooled record, within the pool's limits; raises PoolRefused naming the limit.

    The caller commits on success and rolls back on PoolRefused.
    """
    record = session.get(Record, record_id)
    if record is None or record.pool is None:
        raise PoolRefused("taken", _("This record is no longer in the pool: someone claimed it first. "
                                     "Pick another one.", current))
    pool = pool_for(current.bundle, record.object, record.pool)
    if pool is None:
        raise PoolRefused("pool", _("This pool no longer exists; ask an admin where its records belong.", current))
    if not is_member(session, pool, user):
        raise PoolRefused("members", _("Only members of %(pool)s may claim from it.", current, pool=pool.label))
    _lock_claimer(session, user)
    if pool.reclaim_cooldown:
        lost = session.scalar(select(func.max(WorkflowEvent.at)).where(
            WorkflowEvent.record_id == record.id, WorkflowEvent.actor == user.username,
            WorkflowEvent.kind.in_(("pool_in", "pool_return")), WorkflowEvent.at > now - pool.reclaim_cooldown))
        if lost is not None:
            until = (lost + pool.reclaim_cooldown).astimezone(current.bundle.tz).strftime("%Y-%m-%d %H:%M")
            raise PoolRefused("reclaim_cooldown", _("reclaim_cooldown: you lost this record recently and may claim "
                                                    "it back from %(until)s.", current, until=until))
    st = standing(session, current, pool, user, now)
    if st.claim_limit is not None and st.claimed_today >= st.claim_limit:
        raise PoolRefused("claim_limit_per_day", _("claim_limit_per_day: you have claimed %(n)d of %(limit)d "
                                                   "today; claim again tomorrow.", current, n=st.claimed_today,
                                                   limit=st.claim_limit))
    if st.hold_limit is not None and st.holding >= st.hold_limit:
        raise PoolRefused("hold_limit", _("hold_limit: you already own %(n)d of at most %(limit)d; return or "
                                          "close some before claiming.", current, n=st.holding, limit=st.hold_limit))
    old_data, old_computed, reason, since = dict(record.data), dict(record.computed or {}), record.pool_reason, \
        record.pool_since
    won = session.execute(update(Record).where(Record.id == record.id, Record.pool == pool.key,
                                               Record.owner.is_(None))
                          .values(owner=user.username, owned_since=now, pool=None, pool_since=None, pool_reason=None,
                                  version=Record.version + 1)
                          .execution_options(synchronize_session=False)).rowcount
    if not won:
        raise PoolRefused("taken", _("Someone else claimed this record a moment ago. Pick another one.", current))
    session.refresh(record)
    session.add(WorkflowEvent(record_id=record.id, at=now, kind="pool_claim", rule=pool.key, actor=user.username,
                              cause=_("claimed from %(pool)s", current, pool=pool.label),
                              detail={"previous_owner": record.previous_owner, "reason": reason,
                                      "since": since.isoformat() if since else None}))
    after_change(session, current, Change(record, record.id, "claimed", now, user.username, old_data, old_computed,
                                          None))
    return record


def _lock_claimer(session: Session, user: User):
    """Take the row lock that serialises one user's claims (on SQLite: the database's write lock)."""
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    stmt = insert(Counter).values(object="pool_claim", field=user.username[:63], period="", value=1)
    session.execute(stmt.on_conflict_do_update(index_elements=["object", "field", "period"],
                                               set_={"value": Counter.value + 1}))
