"""The durable schedule: planning, moving and cancelling firings inside the caller's transaction.

Every record change calls `after_change` in the transaction that writes the
record; each registered planner (follow-ups, pools, automations,
time-driven reclassification) then brings that record's pending firings up
to date. Nothing here commits: the firings land with the change or not at
all. Workers (`designer.workflows.worker`) run what falls due through the
handler registered for its kind.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, defer

from ..models import Firing, Record

#: planner(session, current, change): brings the record's pending firings of one subsystem up to date
PLANNERS: list[Callable] = []
#: bulk planner(session, current, now, changes=None) of one subsystem. Without `changes` (after a
#: publish): its workspace-wide part (schedules, clean-ups), returning the
#: objects whose records it plans one by one; `after_publish` then hands it those records a batch at a time
#: as `changes` (cause PUBLISHED). With `changes` it plans those records from the values they carry: a
#: publish's batch, or a batched import's new records.
BULK_PLANNERS: list[Callable] = []
#: the cause of the changes `after_publish` hands the bulk planners
PUBLISHED = "rules published"
#: records per batch `after_publish` reads (each with its children) and hands every bulk planner
BATCH = 500
#: a publish plans at most this many records' firings in its own transaction; more are left to `replan`
INLINE = 5000
#: kind -> handler(session, current, firing, now) -> outcome text; raises Cancel to cancel with a reason
HANDLERS: dict[str, Callable] = {}
#: kinds whose firings are chunks of a long job (`handler(chunked=True)`)
CHUNKED: set[str] = set()


class Cancel(Exception):
    """Raised by a handler: the firing no longer applies (record deleted, reassigned, rule changed)."""


@dataclass
class Change:
    """What happened to a record, as planners need it."""

    record: Record | None
    record_id: int
    #: created | saved | deleted | time | rules published | claimed | returned | assigned | reclaimed
    cause: str
    now: datetime
    actor: str | None = None
    old_data: dict = field(default_factory=dict)
    old_computed: dict = field(default_factory=dict)
    old_owner: str | None = None
    #: False: a batched import's new record, planned before its INSERT, which then stores what the planners
    #: set on it (its follow-up due time)
    stored: bool = True
    #: the record as expressions see it, computed once for all planners (see `typed` and `values`)
    memo: dict = field(default_factory=dict, repr=False)
    #: what a batched import worked out of a new record's planning from its values (`imports.planned`):
    #: `next_change`, `cadence`; valid whoever becomes its owner
    ahead: dict = field(default_factory=dict, repr=False)

    def typed(self, session: Session, current) -> dict:
        """The record's typed values with its children (coerced once, shared by every planner)."""
        return self._memoized("typed", session, current)

    def values(self, session: Session, current) -> dict:
        """`typed` plus formulas and classifications as of `now`."""
        return self._memoized("values", session, current)

    def remember(self, typed: dict, values: dict | None = None):
        """Values the caller already has (the save pipeline validated the record with its children); without
        `values`, they are classified from `typed` when a planner first asks."""
        state = self._state()
        self.memo["typed"] = (state, typed)
        if values is not None:
            self.memo["values"] = (state, values)

    def _state(self):
        r = self.record  # an action (`set`, `assign`, `to_pool`) that changes the record makes the memo stale
        return id(r.data), id(r.computed), r.owner, r.pool, r.version

    def _memoized(self, what: str, session: Session, current):
        state = self._state()
        hit = self.memo.get(what)
        if hit is not None and hit[0] == state:
            return hit[1]
        from ..records.store import children_of, raw_of
        clf = current.bundle.classifier(self.record.object)
        typed_hit = self.memo.get("typed")
        if typed_hit is not None and typed_hit[0] == state:
            typed = typed_hit[1]
        else:
            children = children_of(session, self.record, current.bundle.objects[self.record.object].children)
            typed = clf.coerce(raw_of(self.record, children), problems=[])
            self.memo["typed"] = (state, typed)
        if what == "typed":
            return typed
        values = clf.classify(typed, self.now).record_with_values()
        self.memo["values"] = (state, values)
        return values

    @property
    def created(self) -> bool:
        return self.cause == "created"

    @property
    def deleted(self) -> bool:
        return self.record is None


def planner(fn=None, *, first: bool = False):
    """Register a per-record planner; `first` ones run before the others (automations: what their actions
    change — owner, values — is what the follow-up, pool and time planners must see)."""
    def register(fn):
        PLANNERS.insert(0, fn) if first else PLANNERS.append(fn)
        return fn
    return register(fn) if fn is not None else register


def bulk_planner(fn):
    BULK_PLANNERS.append(fn)
    return fn


def handler(kind: str, *, chunked: bool = False):
    """Register the handler of `kind`. `chunked`: each firing of it is a chunk of a long job (the `replan`
    chains): a worker's claim takes one at most, so that several workers take several side by side, and a
    failing one is retried for as long as it fails (backoff capped at an hour) instead of being marked failed
    after `worker.MAX_ATTEMPTS`, as a job stopped half-way would leave its work half done."""
    def register(fn):
        HANDLERS[kind] = fn
        if chunked:
            CHUNKED.add(kind)
        return fn
    return register


def after_change(session: Session, current, change: Change):
    """Run every planner for one changed record (called by the record store, in its transaction)."""
    _load_planners()
    for plan_fn in PLANNERS:
        plan_fn(session, current, change)


def after_publish(session: Session, current, now: datetime, progress=None) -> int:
    """Plan every record again under a newly published version (called by publish, in its transaction).

    Each bulk planner does its workspace-wide part here (cancellations,
    schedules). The records of the objects they
    plan one by one are then read a batch at a time, each with its children,
    coerced once, and handed to every planner together. Up to `INLINE` such
    records that happens here, in the publish's transaction; beyond, it would
    hold the publish open for minutes (about a millisecond a record in
    Python), and with it SQLite's only write lock or the rewritten records'
    rows: the records are left to `replan` instead, a chain of firings the
    workers run a chunk at a time after the publish commits. Returns the
    number of records left to it (0: every record planned here).
    `progress(done, total)` is called after each batch planned here."""
    from . import replan
    _load_planners()
    replan.supersede(session, current, now)
    objects: set[str] = set()
    for plan_fn in BULK_PLANNERS:
        objects |= plan_fn(session, current, now) or set()
    if not objects:
        return 0
    total = session.scalar(select(func.count()).select_from(Record).where(Record.object.in_(objects)))
    if total > INLINE:
        replan.start(session, current, sorted(objects), now)
        return total
    done = 0
    for object_key in sorted(objects):
        for changes in published(session, current, object_key, now):
            plan_published(session, current, changes, now)
            session.expunge_all()  # bounded memory over the whole workspace
            done += len(changes)
            if progress:
                progress(done, max(total, done))
    return 0


def plan_published(session: Session, current, changes: list[Change], now: datetime):
    """Hand a publish's batch of records to every bulk planner."""
    _load_planners()
    for plan_fn in BULK_PLANNERS:
        plan_fn(session, current, now, changes=changes)
    session.flush()


def published(session: Session, current, object_key: str, now: datetime):
    """Every record of `object_key`, a batch at a time in id order, as the changes of a publish at `now`."""
    after = 0
    while changes := published_after(session, current, object_key, now, after, BATCH):
        yield changes
        after = changes[-1].record_id


def published_after(session: Session, current, object_key: str, now: datetime, after: int, limit: int, *,
                    upto: int | None = None, lock: bool = False) -> list[Change]:
    """The next `limit` records of `object_key` after id `after` (up to id `upto`), as the changes of a
    publish at `now`, each knowing its typed values (its children read as plain rows: none of their own
    computed values or explanations, which the classifier does not read). `lock`: the records are locked
    (PostgreSQL) so that a save of one waits for the planning, and the planning sees the saved record."""
    from ..records.store import children_of_many, raw_of
    bundle = current.bundle
    clf = bundle.classifier(object_key)
    keys = bundle.objects[object_key].children
    stmt = select(Record).options(defer(Record.explain)).where(Record.object == object_key, Record.id > after) \
        .order_by(Record.id).limit(limit) \
        .execution_options(populate_existing=True)  # as the publish's SQL reclassification left them
    if upto is not None:
        stmt = stmt.where(Record.id <= upto)
    if lock:
        stmt = stmt.with_for_update(of=Record)
    batch = session.scalars(stmt).all()
    kids = children_of_many(session, [r.id for r in batch], keys, plain=True)
    changes = []
    for record in batch:
        change = Change(record, record.id, PUBLISHED, now)
        change.remember(clf.coerce(raw_of(record, kids[record.id]), problems=[]))
        changes.append(change)
    return changes


def plan_new(session: Session, current, changes: list[Change], now: datetime):
    """Plan the new records of `changes` at once (a batched import, in its transaction; in id order), stored
    or about to be (`Change.stored`): each bulk planner restricted to them, as after a publish but without its
    workspace-wide clean-ups, reading the values the changes carry (`Change.typed`, `Change.values`) as the
    per-record planners do instead of reading the records back."""
    _load_planners()
    for plan_fn in BULK_PLANNERS:
        plan_fn(session, current, now, changes=changes)


def plan(session: Session, *, key: str, kind: str, record_id: int | None, due_at: datetime, payload: dict,
         version: int | None) -> Firing:
    """Make sure a pending firing with `key` exists, due at `due_at`; a fired or cancelled one is left alone."""
    row = session.scalar(select(Firing).where(Firing.key == key))
    if row is None:
        row = Firing(key=key, kind=kind, record_id=record_id, due_at=due_at, payload=payload,
                     bundle_version=version, status="pending", outcome="")
        session.add(row)
    elif row.status == "pending":
        row.due_at, row.payload, row.bundle_version = due_at, payload, version
    return row


def cancel(session: Session, *, record_id: int, kinds: tuple[str, ...], reason: str, now: datetime,
           keep: tuple[str, ...] = (), where=None) -> int:
    """Cancel the record's pending firings of `kinds` (except the keys in `keep`), keeping `reason`."""
    stmt = (update(Firing).where(Firing.record_id == record_id, Firing.status == "pending", Firing.kind.in_(kinds))
            .values(status="cancelled", outcome=reason, finished_at=now)
            .execution_options(synchronize_session=False))
    if keep:
        stmt = stmt.where(Firing.key.not_in(keep))
    if where is not None:
        stmt = stmt.where(where)
    return session.execute(stmt).rowcount or 0


def _load_planners():
    """Import the subsystems that register planners and handlers (once; imports are cached)."""
    from . import subsystems  # noqa: F401
