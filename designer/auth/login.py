"""Who is asking: a session login (pages) or a bearer token (API)."""
from __future__ import annotations

from flask import Flask, request
from flask_login import LoginManager, current_user
from sqlalchemy import select

from .. import db
from ..clock import now
from ..models import User
from .users import user_for_token

manager = LoginManager()
manager.login_view = "auth.login"
manager.session_protection = "strong"


class SessionUser:
    """Flask-Login's view of a User row (kept apart so the ORM object never outlives its session)."""

    def __init__(self, user: User):
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self.display_name = user.display_name
        self.is_authenticated = True
        self.is_active = user.active
        self.is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


@manager.user_loader
def load_user(user_id: str):
    user = db.session().get(User, int(user_id)) if user_id.isdigit() else None
    return SessionUser(user) if user is not None and user.active else None


@manager.request_loader
def load_from_token(req):
    auth = req.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    user = user_for_token(db.session(), auth[7:].strip(), now())
    if user is not None:
        db.session().commit()
        req.environ["tierwise.token_auth"] = True
        return SessionUser(user)
    return None


def current_db_user() -> User | None:
    """The logged-in user's row in this request's session."""
    if not current_user.is_authenticated:
        return None
    return db.session().scalar(select(User).where(User.id == current_user.id))


def token_authenticated() -> bool:
    return bool(request.environ.get("tierwise.token_auth"))


def init_app(app: Flask):
    manager.init_app(app)
