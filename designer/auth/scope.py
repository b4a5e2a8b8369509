"""Which records a user may see, as a query condition (issue: runtime, item 5).

Reps see their own records and the pooled ones of the pools they are members
of (SPEC §6 `members`); managers those of their team and of the people who
report to them; admins all. Enforced in the query itself,
for pages and API alike: a record outside the scope is simply not found (404).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from ..models import Record, User


def owners_visible_to(session: Session, user: User) -> list[str] | None:
    """Usernames whose records `user` may see; None means everyone (admin)."""
    if user.role == "admin":
        return None
    names = {user.username}
    if user.role == "manager":
        frontier = {user.id}
        seen = set(frontier)
        while frontier:  # everyone who reports to the manager, directly or not
            rows = session.execute(select(User.id, User.username).where(User.manager_id.in_(frontier))).all()
            frontier = {r.id for r in rows} - seen
            seen |= frontier
            names |= {r.username for r in rows}
        if user.team_id is not None:
            names |= set(session.scalars(select(User.username).where(User.team_id == user.team_id)))
    return sorted(names)


def pools_visible_to(session: Session, user: User) -> list[str] | None:
    """Keys of the pools whose records `user` may see and claim; None means every pool."""
    if user.role == "admin":
        return None
    from ..bundles.workspace import NoBundle, current
    from ..workflows.pools import pools_open_to
    try:
        bundle = current(session).bundle
    except NoBundle:
        return None
    return pools_open_to(session, bundle, user)


def visible(stmt, session: Session, user: User, *, pooled: bool = False):
    """`stmt` (selecting Record) limited to the records `user` may list: their scope's own records, or with
    `pooled` the records in the public pools they are a member of. (A pooled record is open to its pool's
    members by its URL too; lists keep the two apart so that each is one index walk: owner and newest first.)"""
    if pooled:
        keys = pools_visible_to(session, user)
        return stmt.where(Record.pool.is_not(None) if keys is None else Record.pool.in_(keys))
    owners = owners_visible_to(session, user)
    if owners is None:
        return stmt
    return stmt.where(Record.owner.in_(owners))


def can_see(session: Session, user: User, record: Record) -> bool:
    """For one record (a child through its parent)."""
    if record.parent_id is not None:
        parent = aliased(Record)
        record = session.scalar(select(parent).where(parent.id == record.parent_id))
        if record is None:
            return False
    owners = owners_visible_to(session, user)
    if owners is None or record.owner in owners:
        return True
    if record.pool is None:
        return False
    keys = pools_visible_to(session, user)
    return keys is None or record.pool in keys
