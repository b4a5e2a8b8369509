"""Creating users, checking passwords (with brute-force throttling) and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import ApiToken, LoginFailure, Team, User

ROLES = ("admin", "manager", "rep")


class UserError(ValueError):
    """A user cannot be created or changed as asked."""


class Throttled(Exception):
    """Too many failed logins: `retry_after` seconds to wait."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many failed logins; try again in {retry_after} s")


def add_user(session: Session, username: str, password: str, *, role: str = "rep", display_name: str = "",
             team: str | None = None, manager: str | None = None, email: str | None = None) -> User:
    username = username.strip()
    if not username or len(username) > 150 or not all(c.isalnum() or c in "._@+-" for c in username):
        raise UserError(f"`{username}` is not a valid username (letters, digits and . _ @ + -)")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    if session.scalar(select(User).where(User.username == username)):
        raise UserError(f"user `{username}` already exists")
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                display_name=display_name or username, email=email)
    if team:
        user.team = session.scalar(select(Team).where(Team.name == team)) or Team(name=team)
    if manager:
        boss = session.scalar(select(User).where(User.username == manager))
        if boss is None:
            raise UserError(f"manager `{manager}` does not exist")
        user.manager_id = boss.id
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str, address: str, *, limit: int, window: int,
                 now: datetime) -> User | None:
    """The user if the password is right; None if not. Raises Throttled after `limit` failures in `window` s,
    counted per username and per address, so neither guessing one account nor spraying many works."""
    keys = [f"user:{username.lower()}", f"addr:{address}"]
    for key in keys:
        row = session.get(LoginFailure, key)
        if row is not None:
            first = row.first_at if row.first_at.tzinfo else row.first_at.replace(tzinfo=now.tzinfo)
            age = (now - first).total_seconds()
            if age > window:
                session.delete(row)
            elif row.count >= limit:
                raise Throttled(int(window - age) + 1)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    # Check a hash even for unknown users, so timing does not tell which usernames exist.
    ok = check_password_hash(user.password_hash if user else _DUMMY, password)
    if user is not None and ok:
        session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
        return user
    for key in keys:
        row = session.get(LoginFailure, key)
        if row is None:
            session.add(LoginFailure(key=key, count=1, first_at=now))
        else:
            row.count += 1
    return None


_DUMMY = generate_password_hash(secrets.token_hex(8))


def issue_token(session: Session, user: User, name: str = "") -> str:
    """A new API token for `user`; the plain token is returned once and never stored."""
    token = "tw_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=hashlib.sha256(token.encode()).hexdigest()))
    session.flush()
    return token


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))
    if row is None or not row.user.active:
        return None
    if row.last_used_at is None or now - _aware(row.last_used_at, now) > timedelta(minutes=5):
        row.last_used_at = now
    return row.user


def _aware(value: datetime, like: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=like.tzinfo)
