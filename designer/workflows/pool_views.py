"""Pool pages (SPEC §6): what is in a pool and why, claiming within the limits, returning with a reason.

Also builds the record page's "跟进与自动化" panel: the record's workflow
events (with their causes), open tasks, next follow-up and pool status.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import and_, or_, select

from .. import db
from ..auth.login import current_db_user
from ..auth.scope import can_see
from ..clock import now
from ..models import Firing, Record, Task, WorkflowEvent
from ..pages import workspace
from . import pools

bp = Blueprint("pools", __name__, template_folder="templates")
PAGE = 50


def _pool(cur, key: str, user) -> pools.Pool:
    pool = next((p for p in pools.pools(cur.bundle) if p.key == key), None)
    if pool is None or not (user.role == "admin" or pools.is_member(db.session(), pool, user)):
        abort(404)
    return pool


@bp.route("/pool/")
@login_required
def first():
    """The first pool the user may see (the top bar's link)."""
    cur = workspace()
    user = current_db_user()
    pool = next((p for p in pools.pools(cur.bundle)
                 if user.role == "admin" or pools.is_member(db.session(), p, user)), None)
    if pool is None:
        flash(_("There is no public pool you may use. An admin adds pools to the bundle."), "error")
        return redirect(url_for("records.home"))
    return redirect(url_for("pools.show", pool_key=pool.key))


@bp.route("/pool/<pool_key>/")
@login_required
def show(pool_key: str):
    cur = workspace()
    user = current_db_user()
    pool = _pool(cur, pool_key, user)
    s = db.session()
    stmt = select(Record).where(Record.object == pool.object, Record.pool == pool.key)
    after = request.args.get("after", "")
    if after:
        try:
            at, rid = after.rsplit("_", 1)
            at, rid = datetime.fromisoformat(at), int(rid)
            stmt = stmt.where(or_(Record.pool_since < at, and_(Record.pool_since == at, Record.id < rid)))
        except ValueError:
            pass  # a cursor that was not ours: the first page
    rows = s.scalars(stmt.order_by(Record.pool_since.desc(), Record.id.desc()).limit(PAGE + 1)).all()
    more = rows[PAGE:] and rows[PAGE - 1]
    return render_template("pools/pool.html", pool=pool, records=rows[:PAGE], bundle=cur.bundle,
                           obj=cur.bundle.objects[pool.object], standing=pools.standing(s, cur, pool, user, now()),
                           member=pools.is_member(s, pool, user),
                           next_after=f"{more.pool_since.isoformat()}_{more.id}" if more else None)


@bp.route("/pool/<pool_key>/claim/<int:record_id>", methods=["POST"])
@login_required
def claim(pool_key: str, record_id: int):
    cur = workspace()
    user = current_db_user()
    _pool(cur, pool_key, user)
    s = db.session()
    try:
        record = pools.claim(s, cur, record_id, user, now())
        s.commit()
    except pools.PoolRefused as exc:
        s.rollback()
        flash(exc.message, "error")
        back = request.form.get("next") or ""
        local = back.startswith("/") and not back.startswith(("//", "/\\"))
        return redirect(back if local else url_for("pools.show", pool_key=pool_key))
    title = record.title or f"#{record.id}"
    flash(_("Claimed: %(title)s is yours now.", title=title), "ok")
    return redirect(url_for("records.show", record_id=record.id))


@bp.route("/r/<int:record_id>/return", methods=["GET", "POST"])
@login_required
def give_back(record_id: int):
    """Return a record to its pool: a reason and an explicit confirmation are both required."""
    cur = workspace()
    user = current_db_user()
    s = db.session()
    record = s.get(Record, record_id)
    if record is None or record.parent_id is not None or not can_see(s, user, record):
        abort(404)
    pool = pools.pool_for(cur.bundle, record.object)
    if pool is None:
        abort(404)
    errors = {}
    reason = (request.form.get("reason") or "").strip()
    if request.method == "POST":
        if not reason:
            errors["reason"] = _("Say why the record goes back to the pool.")
        if request.form.get("confirm") != "1":
            errors["confirm"] = _("Tick the box to confirm: you lose the record and others may claim it.")
        if not errors:
            try:
                pools.return_to_pool(s, cur, record, user, reason, now())
                s.commit()
                title = record.title or f"#{record.id}"
                flash(_("%(title)s is back in %(pool)s.", title=title, pool=pool.label), "ok")
                return redirect(url_for("pools.show", pool_key=pool.key) if pools.is_member(s, pool, user)
                                else url_for("records.home"))
            except pools.PoolRefused as exc:
                s.rollback()
                errors[exc.limit if exc.limit == "reason" else "general"] = exc.message
    return render_template("pools/return.html", record=record, pool=pool, reason=reason, errors=errors,
                           bundle=cur.bundle), 422 if errors else 200


def record_panel(session, cur, record: Record, user) -> dict:
    """What the record page's "跟进与自动化" section shows."""
    events = session.scalars(select(WorkflowEvent).where(WorkflowEvent.record_id == record.id)
                             .order_by(WorkflowEvent.at.desc(), WorkflowEvent.id.desc()).limit(50)).all()
    tasks = session.scalars(select(Task).where(Task.record_id == record.id, Task.status == "open")
                            .order_by(Task.due_at, Task.id).limit(50)).all()
    firings = session.scalars(select(Firing).where(Firing.record_id == record.id)
                              .order_by(Firing.due_at.desc(), Firing.id.desc()).limit(20)).all()
    pool = pools.pool_for(cur.bundle, record.object, record.pool) if record.pool else None
    home = pools.pool_for(cur.bundle, record.object)
    labels = {"reminder": _("Reminder"), "escalation": _("Escalation"), "automation": _("Automation"),
              "assign": _("Assigned"), "pool_in": _("Reclaimed into the pool"), "pool_claim": _("Claimed"),
              "pool_return": _("Returned to the pool"), "pool_warn": _("Pool warning"), "cancelled": _("Cancelled"),
              "reclassify": _("Time-driven reclassification"), "pool_reclaim": _("Reclaim into the pool"),
              "automation_date": _("Date automation"), "automation_cron": _("Scheduled automation"),
              "pending": _("Planned"), "done": _("Done"), "failed": _("Failed")}
    rules = {p.key: p.label for p in pools.pools(cur.bundle)}
    rules.update({a["key"]: a.get("label") or a["key"] for a in cur.bundle.document.get("automations") or []
                  if isinstance(a, dict) and "key" in a})
    return {
        "events": events, "tasks": tasks, "firings": firings, "pool": pool, "labels": labels, "rules": rules,
        "can_claim": pool is not None and pools.is_member(session, pool, user),
        "can_return": record.pool is None and home is not None and
                      (record.owner == user.username or user.role in ("admin", "manager")),
    }
