"""A rep's own pages: 今日待跟进 (follow-ups due today and overdue), the inbox, open tasks.

Every page shows the logged-in user's own items only — records they own,
notifications and tasks addressed to them — whatever their role: a manager
looks at the team through the record lists, not here.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy import func, select, update

from .. import db
from ..bundles.workspace import NoBundle, current
from ..clock import now
from ..models import Notification, Record, Task

bp = Blueprint("inbox", __name__, template_folder="templates")

#: most rows one page lists (the counts above it are always complete)
PAGE = 100
#: the zone "today" is taken in before any bundle is published (the bundles' own default)
DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


class InboxLabel:
    """The top bar's inbox link text, with the number of unread notifications beside it.

    Navigation labels are rendered as `{{ label }}`; an object with `__html__` lets this one add its count
    badge at render time without the base template knowing about the inbox.
    """

    def __str__(self) -> str:
        return str(_l("Inbox"))

    def __html__(self) -> str:
        count = unread_count(current_user.username) if current_user.is_authenticated else 0
        label = escape(_("Inbox"))
        if count:
            label += Markup(' <span class="count" title="{}">{}</span>').format(_("unread"), count)
        return str(label)


def unread_count(username: str) -> int:
    return db.session().scalar(select(func.count()).select_from(Notification)
                               .where(Notification.username == username, Notification.read_at.is_(None))) or 0


@bp.context_processor
def local_time():
    """`local(instant)`: an instant as the workspace's wall-clock time, for these pages."""
    tz = _tz(_bundle())
    return {"local": lambda at: at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at is not None else "—"}


def _bundle():
    try:
        return current(db.session()).bundle
    except NoBundle:
        return None


def day_bounds(at: datetime, tz) -> tuple[datetime, datetime]:
    """Start of the local day `at` falls on and start of the next one, as aware instants."""
    day = at.astimezone(tz).date()
    return (datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz))


@bp.route("/today")
@login_required
def today():
    bundle = _bundle()
    start, end = day_bounds(now(), _tz(bundle))
    s, me = db.session(), current_user.username
    due = (Record.owner == me, Record.parent_id.is_(None), Record.followup_due_at < end)
    records = s.scalars(select(Record).where(*due).order_by(Record.followup_due_at, Record.id).limit(PAGE)).all()
    overdue_count = s.scalar(select(func.count()).select_from(Record).where(*due, Record.followup_due_at < start))
    due_count = s.scalar(select(func.count()).select_from(Record).where(*due))
    task_rows = s.execute(select(Task, Record.title).outerjoin(Record, Record.id == Task.record_id)
                          .where(Task.assignee == me, Task.status == "open", Task.due_at < end)
                          .order_by(Task.due_at, Task.id).limit(PAGE)).all()
    labels = {k: o.label for k, o in bundle.objects.items()} if bundle is not None else {}
    return render_template("inbox/today.html", records=records, overdue_count=overdue_count, due_count=due_count,
                           tasks=task_rows, start=start, labels=labels, day=start.date())


@bp.route("/tasks")
@login_required
def tasks():
    s = db.session()
    open_tasks = (Task.assignee == current_user.username, Task.status == "open")
    rows = s.execute(select(Task, Record.title).outerjoin(Record, Record.id == Task.record_id).where(*open_tasks)
                     .order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(PAGE)).all()
    total = s.scalar(select(func.count()).select_from(Task).where(*open_tasks))
    start, _end = day_bounds(now(), _tz(_bundle()))
    return render_template("inbox/tasks.html", tasks=rows, total=total, start=start)


@bp.route("/tasks/<int:task_id>/done", methods=["POST"])
@login_required
def task_done(task_id: int):
    s = db.session()
    task = s.get(Task, task_id)
    if task is None or task.assignee != current_user.username:
        abort(404)
    if task.status == "open":
        task.status, task.done_at = "done", now()
        s.commit()
        flash(_("Task done: %(title)s", title=task.title), "ok")
    return redirect(_back("inbox.tasks"))


@bp.route("/inbox")
@login_required
def inbox():
    s = db.session()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    mine = Notification.username == current_user.username
    notes = s.execute(select(Notification, Record.title).outerjoin(Record, Record.id == Notification.record_id)
                      .where(mine).order_by(Notification.read_at.is_not(None), Notification.created_at.desc(),
                                            Notification.id.desc())
                      .offset((page - 1) * PAGE).limit(PAGE + 1)).all()
    unread = unread_count(current_user.username)
    return render_template("inbox/inbox.html", notes=notes[:PAGE], more=len(notes) > PAGE, page=page, unread=unread)


@bp.route("/inbox/<int:note_id>/read", methods=["POST"])
@login_required
def mark_read(note_id: int):
    s = db.session()
    note = s.get(Notification, note_id)
    if note is None or note.username != current_user.username:
        abort(404)
    if note.read_at is None:
        note.read_at = now()
        s.commit()
    return redirect(_back("inbox.inbox"))


@bp.route("/inbox/read-all", methods=["POST"])
@login_required
def mark_all_read():
    s = db.session()
    done = s.execute(update(Notification).where(Notification.username == current_user.username,
                                                Notification.read_at.is_(None))
                     .values(read_at=now()).execution_options(synchronize_session=False)).rowcount
    s.commit()
    flash(_("%(count)s notifications marked as read.", count=done), "ok")
    return redirect(url_for("inbox.inbox"))


def _tz(bundle):
    return bundle.tz if bundle is not None else DEFAULT_TZ


def _back(default: str) -> str:
    """Where a form came from (its `next` field, a path on this site), else the `default` page."""
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for(default)
