"""Languages: Chinese first, English available (Flask-Babel); a user's choice is kept in the session."""
from __future__ import annotations

from flask import Flask, session
from flask_babel import Babel, get_locale

LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    """Chinese unless the user switched to English (the choice is kept in their session)."""
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else "zh_CN"


def init_app(app: Flask):
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
