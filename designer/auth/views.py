"""Login, logout and the language switch."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from .. import db
from ..clock import now
from ..i18n import LANGUAGES
from .login import SessionUser
from .users import Throttled, authenticate

bp = Blueprint("auth", __name__, template_folder="templates")


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired()])
    password = PasswordField("password", validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        s = db.session()
        try:
            user = authenticate(s, form.username.data.strip(), form.password.data, request.remote_addr or "-",
                                limit=current_app.config["LOGIN_LIMIT"], window=current_app.config["LOGIN_WINDOW"],
                                now=now())
        except Throttled as exc:
            s.commit()
            flash(_("Too many failed logins. Try again in %(minutes)d minutes.", minutes=max(1, exc.retry_after // 60)),
                  "error")
            return render_template("login.html", form=form), 429
        s.commit()
        if user is not None:
            session.clear()
            login_user(SessionUser(user))
            target = request.args.get("next", "")
            return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("records.home"))
        flash(_("Wrong username or password."), "error")
        status = 401
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
def language(code: str):
    if code in LANGUAGES:
        session["lang"] = code
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else url_for("records.home"))
