"""Who gets a record (SPEC §7 `assign`): round robin, least loaded, or a rule mapping a value to a user.

Fair under concurrency: `round_robin` and `least_loaded` first take a row
lock on the automation's counter (`counters` row `assign/<key>`), held until
the transaction commits, so concurrent saves pick one after the other and
each sees the choices committed before it. On SQLite the database's single
writer gives the same order.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..models import Counter, Record, User, WorkflowEvent
from .actions import Context, compiled, show


def choose(ctx: Context, body: dict, index: int) -> str | None:
    """The username the strategy picks for the record, or None when nobody fits."""
    strategy = body.get("strategy")
    if strategy == "rule":
        return _by_rule(ctx, body, index)
    users = _active(ctx.session, body.get("users") or [])
    if not users:
        return None
    turn = _next_turn(ctx.session, ctx.rule["key"], index)
    if strategy == "round_robin":
        return users[(turn - 1) % len(users)]
    loads = dict(ctx.session.execute(
        select(Record.owner, func.count()).where(Record.object == ctx.record.object, Record.owner.in_(users),
                                                 Record.id != ctx.record.id)
        .group_by(Record.owner)).all())
    return min(users, key=lambda u: (loads.get(u, 0), users.index(u)))


def give(ctx: Context, user: str, strategy: str) -> str:
    """Make `user` the record's owner (out of any pool), and record why."""
    record = ctx.record
    if record.owner == user and record.pool is None:
        return f"assign: already {user}'s"
    previous = record.owner
    record.owner, record.owned_since, record.pool = user, ctx.now, None
    record.pool_since = record.pool_reason = None
    ctx.session.flush()
    ctx.session.add(WorkflowEvent(record_id=record.id, at=ctx.now, kind="assign", rule=ctx.rule["key"],
                                  cause=f"{strategy}: {ctx.cause}", detail={"from": previous, "to": user},
                                  actor=user))
    ctx.values["owner"] = user
    return f"assigned to {user} ({strategy})"


def _by_rule(ctx: Context, body: dict, index: int) -> str | None:
    from .actions import _index
    bundle = ctx.current.bundle
    path = ("automations", _index(ctx), "do", index, "assign", "expr")
    today, now = bundle.classifier(ctx.record.object).clock(ctx.now)
    value = compiled(bundle, path, mode="value", old=ctx.old is not None)(ctx.values, today, now, None, ctx.old)
    mapping = {str(k): v for k, v in (body.get("map") or {}).items()}
    candidates = [u for u in (mapping.get(show(value)), body.get("default")) if u]
    users = _active(ctx.session, candidates)
    return users[0] if users else None


def _active(session, names: list[str]) -> list[str]:
    """`names` in their order, without users that do not exist or are inactive."""
    active = set(session.scalars(select(User.username).where(User.username.in_(names), User.active.is_(True))))
    return [n for n in names if n in active]


def _next_turn(session, automation: str, index: int) -> int:
    """Increment and return the automation's assignment counter, locking its row until commit."""
    name = f"{automation}#{index}"[:63]
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert
    stmt = insert(Counter).values(object="assign", field=name, period="", value=1)
    session.execute(stmt.on_conflict_do_update(index_elements=["object", "field", "period"],
                                               set_={"value": Counter.value + 1}))
    return session.scalar(select(Counter.value).where(Counter.object == "assign", Counter.field == name,
                                                      Counter.period == ""))
