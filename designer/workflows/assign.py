"""Who gets a record (SPEC §7 `assign`): round robin, least loaded, or a rule mapping a value to a user.

Fair under concurrency: `round_robin` and `least_loaded` first take a row
lock on the automation's counter (`counters` row `assign/<key>`), held until
the transaction commits, so concurrent saves pick one after the other and
each sees the choices committed before it. On SQLite the database's single
writer gives the same order.

A strategy reads the database through `Lookups`: a single save asks each
question afresh; a batched import's new records, decided in file order
before they are inserted, ask through `BatchLookups`, which gives the
answers that many single saves would get from a query or two per batch.
"""
from __future__ import annotations

from collections import Counter as Tally

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..models import Counter, Record, User
from .actions import Context, compiled, event, show


def choose(ctx: Context, body: dict, index: int) -> str | None:
    """The username the strategy picks for the record, or None when nobody fits."""
    lookups = ctx.held.lookups if ctx.held is not None else Lookups(ctx.session)
    strategy = body.get("strategy")
    if strategy == "rule":
        return _by_rule(ctx, body, index, lookups)
    users = lookups.active(body.get("users") or [])
    if not users:
        return None
    turn = lookups.turn(ctx.rule["key"], index)
    if strategy == "round_robin":
        return users[(turn - 1) % len(users)]
    loads = lookups.loads(ctx.record, users)
    return min(users, key=lambda u: (loads.get(u, 0), users.index(u)))


def give(ctx: Context, user: str, strategy: str) -> str:
    """Make `user` the record's owner (out of any pool), and record why."""
    record = ctx.record
    if record.owner == user and record.pool is None:
        return f"assign: already {user}'s"
    previous = record.owner
    record.owner, record.owned_since, record.pool = user, ctx.now, None
    record.pool_since = record.pool_reason = None
    if ctx.held is None:
        ctx.session.flush()
    else:  # what the flush of an inserted record would count
        record.version += 1
    event(ctx, kind="assign", cause=f"{strategy}: {ctx.cause}", detail={"from": previous, "to": user}, actor=user)
    ctx.values["owner"] = user
    return f"assigned to {user} ({strategy})"


def _by_rule(ctx: Context, body: dict, index: int, lookups: Lookups) -> str | None:
    from .actions import _index
    bundle = ctx.current.bundle
    path = ("automations", _index(ctx), "do", index, "assign", "expr")
    today, now = bundle.classifier(ctx.record.object).clock(ctx.now)
    value = compiled(bundle, path, mode="value", old=ctx.old is not None)(ctx.values, today, now, None, ctx.old)
    mapping = {str(k): v for k, v in (body.get("map") or {}).items()}
    candidates = [u for u in (mapping.get(show(value)), body.get("default")) if u]
    users = lookups.active(candidates)
    return users[0] if users else None


class Lookups:
    """What the strategies read, asked of the database each time (a single save)."""

    def __init__(self, session):
        self.session = session

    def active(self, names: list[str]) -> list[str]:
        """`names` in their order, without users that do not exist or are inactive."""
        active = set(self.session.scalars(select(User.username).where(User.username.in_(names),
                                                                      User.active.is_(True))))
        return [n for n in names if n in active]

    def turn(self, automation: str, index: int) -> int:
        """Increment and return the automation's assignment counter, locking its row until commit."""
        name = _counter(automation, index)
        dialect = self.session.get_bind().dialect.name
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        stmt = insert(Counter).values(object="assign", field=name, period="", value=1)
        self.session.execute(stmt.on_conflict_do_update(index_elements=["object", "field", "period"],
                                                        set_={"value": Counter.value + 1}))
        return self.session.scalar(select(Counter.value).where(Counter.object == "assign", Counter.field == name,
                                                               Counter.period == ""))

    def loads(self, record, users: list[str]) -> dict[str, int]:
        """How many of the object's other records each of `users` owns."""
        return dict(self.session.execute(
            select(Record.owner, func.count()).where(Record.object == record.object, Record.owner.in_(users),
                                                     Record.id != record.id)
            .group_by(Record.owner)).all())


class BatchLookups(Lookups):
    """The answers single saves of a batch's new records would get one after the other, from one query per
    question and batch: active users are read once; a counter is incremented (and locked) at the batch's
    first turn, later turns follow in memory and `finish` adds them in one statement; loads are counted
    once, plus the owners of the batch's records decided so far (`decided`), which are not inserted yet."""

    def __init__(self, session):
        super().__init__(session)
        self._active: dict[tuple, list[str]] = {}
        #: (automation, index) -> [first turn, turns taken]
        self._turns: dict[tuple, list[int]] = {}
        self._loads: dict[tuple, dict[str, int]] = {}
        self._owners: Tally = Tally()

    def active(self, names: list[str]) -> list[str]:
        key = tuple(names)
        if key not in self._active:
            self._active[key] = super().active(names)
        return self._active[key]

    def turn(self, automation: str, index: int) -> int:
        got = self._turns.get((automation, index))
        if got is None:
            got = self._turns[(automation, index)] = [super().turn(automation, index), 0]
        got[1] += 1
        return got[0] + got[1] - 1

    def loads(self, record, users: list[str]) -> dict[str, int]:
        key = (record.object, tuple(users))
        if key not in self._loads:
            loads = super().loads(record, users)
            for user in users:
                loads[user] = loads.get(user, 0) + self._owners[(record.object, user)]
            self._loads[key] = loads
        return self._loads[key]

    def decided(self, record):
        """The record's owner is final: it counts in the loads of the records after it."""
        if record.owner is None:
            return
        self._owners[(record.object, record.owner)] += 1
        for (object_key, users), loads in self._loads.items():
            if object_key == record.object and record.owner in users:
                loads[record.owner] = loads.get(record.owner, 0) + 1

    def finish(self):
        """Add the turns taken after each counter's first (that one was counted when taken)."""
        for (automation, index), (_first, taken) in self._turns.items():
            if taken > 1:
                self.session.execute(update(Counter).where(Counter.object == "assign",
                                                           Counter.field == _counter(automation, index),
                                                           Counter.period == "")
                                     .values(value=Counter.value + taken - 1))


def _counter(automation: str, index: int) -> str:
    return f"{automation}#{index}"[:63]
