"""Languages: Chinese first, English available (Flask-Babel); a user's choice is kept in the session."""
from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel, get_locale

LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "zh_CN"


def init_app(app: Flask):
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
