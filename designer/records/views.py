"""Record pages for reps and managers: lists with filters, entry forms, the record page with "why"."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select

from engine import RecordInvalid
from engine.explain import describe

from .. import db
from ..auth.login import current_db_user
from ..auth.scope import can_see
from ..bundles.workspace import NoBundle, current
from ..clock import now
from ..exports import jobs as export_jobs
from ..models import AuditEntry, ClassificationChange, Record, User
from ..pages import object_of, workspace
from . import listing
from .duplicates import DuplicateFound
from .forms import form_class, form_data, form_sections, form_values
from .store import StaleRecord, children_of, save

bp = Blueprint("records", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/records")
bp.add_app_template_global(form_sections)


@bp.app_context_processor
def navigation():
    try:
        bundle = current(db.session()).bundle
    except NoBundle:
        return {"nav_objects": [], "active_object": None}
    tops = [o for o in bundle.objects.values() if o.parent is None]
    return {"nav_objects": tops, "active_object": request.view_args.get("object_key") if request.view_args else None}


def _record(record_id: int) -> Record:
    """A record the user may see, or 404 — the same answer whether it exists or not."""
    record = db.session().get(Record, record_id)
    if record is None or not can_see(db.session(), current_db_user(), record):
        abort(404)
    return record


def _users():
    return db.session().scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()


@bp.route("/")
@login_required
def home():
    cur = workspace()
    first = next((k for k, o in cur.bundle.objects.items() if o.parent is None), None)
    return redirect(url_for("records.list_records", object_key=first))


@bp.route("/o/<object_key>/")
@login_required
def list_records(object_key: str):
    cur = workspace()
    obj = object_of(cur, object_key)
    user = current_db_user()
    page = listing.query(db.session(), cur, obj, user, request.args)
    return render_template("list.html", obj=obj, page=page, bundle=cur.bundle,
                           classifications=cur.bundle.classifications_of(obj.key),
                           exports=export_jobs.recent(current_app._get_current_object(), db.session(), user, obj.key))


def _put_problems(form, problems):
    """Put the engine's problems on the form fields they name; the rest are shown above the form."""
    general = []
    for p in problems:
        field = form._fields.get(p.path)
        if field is not None:
            field.errors = list(field.errors or []) + [p.message]
        else:
            general.append(f"{p.path}: {p.message}")
    return general


@bp.route("/o/<object_key>/new", methods=["GET", "POST"])
@login_required
def new_record(object_key: str):
    cur = workspace()
    obj = object_of(cur, object_key)
    form = form_class(obj, _users())()
    general, warnings = [], []
    if form.validate_on_submit():
        s = db.session()
        user = current_db_user()
        try:
            saved = save(s, cur, user.username, obj.key, form_values(form, obj), owner=user.username, now=now(),
                         allow_duplicates=request.form.get("allow_duplicates") == "1")
            s.commit()
            flash(_("Saved."), "ok")
            return redirect(url_for("records.show", record_id=saved.record.id))
        except RecordInvalid as exc:
            s.rollback()
            general = _put_problems(form, exc.problems)
        except DuplicateFound as exc:
            s.rollback()
            warnings = exc.problems
    elif form.errors:
        general = [_("The form expired; please submit it again.")] if "csrf_token" in form.errors else []
    return render_template("form.html", obj=obj, form=form, general=general, warnings=warnings, record=None,
                           bundle=cur.bundle, status=422 if general else 200), 422 if (general or form.errors) else 200


@bp.route("/r/<int:record_id>/edit", methods=["GET", "POST"])
@login_required
def edit(record_id: int):
    cur = workspace()
    record = _record(record_id)
    if record.parent_id is not None:
        return redirect(url_for("records.show", record_id=record.parent_id))
    obj = object_of(cur, record.object)
    form_type = form_class(obj, _users())
    if request.method == "GET":
        form = form_type(data={**form_data(obj, record.data, cur.bundle), "Version": record.version})
    else:
        form = form_type()
    general, warnings, status = [], [], 200
    if form.validate_on_submit():
        s = db.session()
        try:
            version = int(form.Version.data or 0)
            save(s, cur, current_db_user().username, obj.key, form_values(form, obj), record=record,
                 expected_version=version, now=now(), allow_duplicates=request.form.get("allow_duplicates") == "1")
            s.commit()
            flash(_("Saved."), "ok")
            return redirect(url_for("records.show", record_id=record.id))
        except StaleRecord:
            s.rollback()
            general = [_("Someone else changed this record while you were editing. Your input is kept below; "
                         "reload the record to see their changes, then apply yours again.")]
            status = 409
        except RecordInvalid as exc:
            s.rollback()
            general, status = _put_problems(form, exc.problems), 422
        except DuplicateFound as exc:
            s.rollback()
            warnings = exc.problems
    return render_template("form.html", obj=obj, form=form, general=general, warnings=warnings, record=record,
                           bundle=cur.bundle), status


@bp.route("/r/<int:record_id>")
@login_required
def show(record_id: int):
    cur = workspace()
    record = _record(record_id)
    if record.parent_id is not None:
        return redirect(url_for("records.show", record_id=record.parent_id))
    obj = cur.bundle.objects.get(record.object)
    if obj is None:
        abort(404)
    s = db.session()
    clf = cur.bundle.classifier(obj.key)
    children = children_of(s, record, obj.children)
    child_forms = {k: form_class(cur.bundle.objects[k], _users())(prefix=k) for k in obj.children}
    history = s.scalars(select(ClassificationChange).where(ClassificationChange.record_id == record.id)
                        .order_by(ClassificationChange.at.desc(), ClassificationChange.id.desc()).limit(50)).all()
    audit = s.scalars(select(AuditEntry).where(AuditEntry.record_id == record.id)
                      .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(50)).all()
    from ..workflows.pool_views import record_panel
    return render_template("record.html", obj=obj, record=record, bundle=cur.bundle, children=children,
                           workflow=record_panel(s, cur, record, current_db_user()),
                           child_forms=child_forms, why=describe(clf, record.explain or {}), history=history,
                           audit=audit, classifications=cur.bundle.classifications_of(obj.key),
                           child_errors=request.args.get("child_error"))


@bp.route("/r/<int:record_id>/<child_key>", methods=["POST"])
@login_required
def add_child(record_id: int, child_key: str):
    cur = workspace()
    record = _record(record_id)
    obj = cur.bundle.objects.get(record.object)
    if obj is None or child_key not in obj.children:
        abort(404)
    child = cur.bundle.objects[child_key]
    form = form_class(child, _users())(prefix=child_key)
    s = db.session()
    if form.validate_on_submit():
        try:
            save(s, cur, current_db_user().username, child_key, form_values(form, child), parent=record, now=now())
            s.commit()
            flash(_("Added."), "ok")
            return redirect(url_for("records.show", record_id=record.id) + f"#{child_key}")
        except RecordInvalid as exc:
            s.rollback()
            message = "; ".join(f"{child.fields[p.path].label if p.path in child.fields else p.path}: {p.message}"
                                for p in exc.problems)
            flash(message, "error")
    return redirect(url_for("records.show", record_id=record.id) + f"#{child_key}")


@bp.route("/o/<object_key>/state", methods=["POST"])
@login_required
def state(object_key: str):
    """Which fields are hidden and required for the values typed so far: the form updates live (no reload)."""
    cur = workspace()
    obj = object_of(cur, object_key, top_level=False)
    clf = cur.bundle.classifier(obj.key)
    values = request.get_json(silent=True) or {}
    raw = {k: v for k, v in values.items() if k in obj.fields}
    typed = clf.coerce(raw, problems=[])
    at = now()
    full = clf.classify(typed, at).record_with_values()
    hidden = sorted(clf.hidden_fields(full, at))
    required = sorted(clf.required_fields(full, at) - set(hidden))
    return jsonify(hidden=hidden, required=required)


@bp.route("/regions")
@login_required
def regions():
    from engine import regions as data
    return jsonify(data.children(request.args.get("path", "")))

