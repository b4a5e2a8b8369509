"""Import pages: upload a file, map its columns, preview, run with a progress bar.

Who may import: everyone signed in. Admins and managers choose the owner of
the new records (a manager among the people they manage); a rep's imported
records are their own. "Update the existing record" changes only records
the importer may see, as the edit page does. Jobs are seen by the person who
started them, and by admins.
"""
from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import func, select

from .. import db
from ..auth.login import current_db_user
from ..auth.scope import owners_visible_to
from ..clock import now
from ..downloads import XLSX, send_temporary
from ..models import ImportJob, ImportProblem, User
from ..pages import object_of, workspace
from . import choices, jobs
from .forms import UploadForm, mapping_form
from .mapping import EXACT, judge, match_fields, problems, unmapped_required
from .rows import Rows
from .runner import BATCH
from .sheets import SheetError, Table, checksum, sheet_names
from .template import write_template

bp = Blueprint("imports", __name__, template_folder="templates")

#: rows shown in the preview
PREVIEW = 20
#: problems a job's page lists one by one (all are in the error file), and kinds of problem it sums up
NOTES = 200
SUMMARY = 20


def _job(job_id: int) -> ImportJob:
    """A job of the user (any job, for an admin), or 404."""
    job = db.session().get(ImportJob, job_id)
    user = current_db_user()
    if job is None or (job.username != user.username and user.role != "admin"):
        abort(404)
    return job


def _owners(user: User) -> list[tuple[str, str]]:
    """Who the importer may make owner of new records: themselves first, then (admins, managers) others."""
    me = [(user.username, user.display_name or user.username)]
    if user.role == "rep":
        return me
    s = db.session()
    scope = owners_visible_to(s, user)
    others = s.scalars(select(User).where(User.active.is_(True), User.username != user.username)
                       .order_by(User.username)).all()
    return me + [(u.username, u.display_name or u.username) for u in others if scope is None or u.username in scope]


def _keep(upload) -> Path:
    """Store an uploaded file in the instance folder's `imports/` under a random name; check it reads as a table."""
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(16)}{Path(upload.filename or '').suffix.lower()}"
    upload.save(path)
    limit = current_app.config.get("IMPORT_MAX_BYTES", 100 * 1024 * 1024)
    try:
        if path.stat().st_size > limit:
            raise SheetError("too large")
        Table(path).header()
    except SheetError:
        path.unlink(missing_ok=True)
        raise
    return path


@bp.route("/o/<object_key>/import", methods=["GET", "POST"])
@login_required
def upload(object_key: str):
    cur = workspace()
    obj = object_of(cur, object_key)
    user = current_db_user()
    s = db.session()
    form = UploadForm()
    error = None
    if form.validate_on_submit():
        try:
            path = _keep(form.file.data)
            options = {}
            if obj.children and form.child_file.data:
                options = {"child_file": str(_keep(form.child_file.data)),
                           "child_filename": (form.child_file.data.filename or "")[:255]}
            job = ImportJob(object=obj.key, username=user.username, status="draft", path=str(path),
                            filename=(form.file.data.filename or path.name)[:255], options=options, created_at=now())
            s.add(job)
            s.commit()
            return redirect(url_for(".mapping", job_id=job.id))
        except SheetError:
            error = _("This file cannot be read. Choose an .xlsx workbook or a .csv file whose first row holds "
                      "the column headings (and at most %(mb)d MB).",
                      mb=current_app.config.get("IMPORT_MAX_BYTES", 100 * 1024 * 1024) // (1024 * 1024))
    recent = s.scalars(select(ImportJob).where(ImportJob.username == user.username, ImportJob.object == obj.key)
                       .order_by(ImportJob.id.desc()).limit(10)).all()
    return render_template("imports/upload.html", obj=obj, form=form, error=error, recent=recent, bundle=cur.bundle,
                           child_labels=[cur.bundle.objects[k].label for k in obj.children]), \
        422 if (error or form.errors) else 200


@bp.route("/o/<object_key>/import/template.xlsx")
@login_required
def template(object_key: str):
    """The workbook to type records of the object into: headings that map by themselves, drop-downs of options."""
    cur = workspace()
    obj = object_of(cur, object_key)
    out = tempfile.TemporaryFile()
    write_template(cur.bundle, obj, out, lang=str(get_locale() or "zh"))
    return send_temporary(out, XLSX, _("%(object)s import template.xlsx", object=obj.label))


@bp.app_template_global()
def status_label(status: str) -> str:
    return {"draft": _("draft"), "queued": _("waiting to start"), "running": _("running"), "done": _("done"),
            "failed": _("not imported (bad rows)"), "interrupted": _("interrupted")}.get(status, status)


def _phrase(items, obj) -> list[str]:
    texts = {"unknown": _("There is no field %(field)s."), "twice": _("%(field)s is chosen for more than one column."),
             "no_parent": _("Choose the column of the child records that names their parent."),
             "nothing": _("Choose at least one column to import.")}
    out = []
    for code, key in items:
        label = obj.fields[key].label if key in obj.fields else key
        out.append(f"{obj.label}: " + texts[code] % {"field": label})
    return out


@dataclass
class _Children:
    """Where a job's child records come from, as chosen on the mapping page (or by default)."""

    #: (value, text) of the choices: none, another sheet of the workbook, the uploaded child file
    sources: list
    source: str = ""
    key: str | None = None
    match: str | None = None
    table: Table | None = None
    headers: list = field(default_factory=list)
    obj: object = None

    @property
    def signature(self) -> str:
        return f"{self.source}|{self.key}|{self.match}"


def _children(job: ImportJob, obj, bundle, main: Table, form: dict | None) -> _Children:
    """The child table: the posted choices (`form`), else the second sheet or the uploaded child file."""
    if not obj.children:
        return _Children([])
    sources = [("", _("None"))] + [(f"sheet:{name}", _("Sheet “%(name)s” of this workbook", name=name))
                                   for name in sheet_names(main.path)[1:]]
    if job.options.get("child_file"):
        sources.append(("file", job.options["child_filename"] or _("The child records file")))
    values = [v for v, _t in sources]
    out = _Children(sources)
    if form is None:
        out.source = "file" if "file" in values else (values[1] if len(values) > 1 else "")
    else:
        out.source = form.get("child_source", "") if form.get("child_source", "") in values else ""
    chosen = (form or {}).get("child_object")
    out.key = chosen if chosen in obj.children else obj.children[0]
    matches = [f.key for f in match_fields(obj)]
    chosen = (form or {}).get("match")
    out.match = chosen if chosen in matches else (matches[0] if matches else None)
    if out.match is None:
        return out
    if out.source == "file":
        out.table = Table(Path(job.options["child_file"]))
    elif out.source.startswith("sheet:"):
        out.table = Table(main.path, out.source[len("sheet:"):])
    if out.table is not None:
        try:
            out.headers = out.table.header()
            out.obj = bundle.objects[out.key]
        except SheetError:
            out.table = None
    return out


@bp.route("/import/<int:job_id>/map", methods=["GET", "POST"])
@login_required
def mapping(job_id: int):
    """Map the columns (guessed from the headings), choose how to import, preview the first rows, start."""
    job = _job(job_id)
    if job.status != "draft":
        return redirect(url_for(".show", job_id=job.id))
    cur = workspace()
    obj = cur.bundle.objects.get(job.object) or abort(404)
    user = current_db_user()
    s = db.session()
    main = Table(Path(job.path))
    headers = main.header()
    posted = request.method == "POST"
    kids = _children(job, obj, cur.bundle, main, request.form if posted else None)
    child = kids.obj
    form_type = mapping_form(obj, headers, owners=_owners(user), child_sources=kids.sources, child=child,
                             child_objects=[(k, cur.bundle.objects[k].label) for k in obj.children],
                             child_headers=kids.headers, match=kids.match)
    judged = judge(headers, obj, samples=_samples(main))
    child_judged = judge(kids.headers, child, parent=obj, match=kids.match, samples=_samples(kids.table)) \
        if child else []
    child_guess = [target for target, _how in child_judged]
    if posted:
        form = form_type()
        if form.child_for.data != kids.signature:  # another child table, object or match key: map it afresh
            for i, target in enumerate(child_guess):
                form[f"k{i}"].data = target
    else:
        data = {f"c{i}": t for i, (t, _how) in enumerate(judged)}
        data.update({f"k{i}": t for i, t in enumerate(child_guess)})
        form = form_type(data={**data, "owner": user.username})
    form.child_for.data = kids.signature
    if obj.children:  # as understood above (a missing or unknown choice falls back to the default)
        form.child_source.data, form.child_object.data, form.match.data = kids.source, kids.key, kids.match
    columns = [form[f"c{i}"].data or "" for i in range(len(headers))]
    child_columns = [form[f"k{i}"].data or "" for i in range(len(kids.headers))] if child else []
    issues = _phrase(problems(columns, obj), obj)
    missing = [f.label for f in unmapped_required(columns, obj)]
    if child:
        issues += _phrase(problems(child_columns, child, child=True), child)
        missing += [f"{child.label}: {f.label}" for f in unmapped_required(child_columns, child)]
    owner = form.owner.data if "owner" in form._fields else user.username
    found, chosen = _choices(main, columns, obj, "c", request.form if posted else None)
    child_found, child_chosen = _choices(kids.table, child_columns, child, "k", request.form if posted else None) \
        if child else (choices.Found(), {})
    run = posted and request.form.get("action") == "run"
    if run and not form.validate():
        issues.append(_("The form expired; please submit it again.") if "csrf_token" in form.errors else
                      _("Choose one of the offered options."))
    if run and not issues:
        job.options = {"sheet": None, "headers": headers, "columns": columns, "owner": owner,
                       "batch": int(current_app.config.get("IMPORT_BATCH_SIZE", BATCH)), "checksum": checksum(main.path),
                       "child_file": job.options.get("child_file"), "child_filename": job.options.get("child_filename"),
                       "values": {str(i): c for i, c in chosen.items()}}
        if child:
            job.options["child"] = {"object": child.key, "path": str(kids.table.path), "sheet": kids.table.sheet,
                                    "headers": kids.headers, "columns": child_columns, "match": kids.match,
                                    "checksum": checksum(kids.table.path),
                                    "values": {str(i): c for i, c in child_chosen.items()}}
        job.mode, job.duplicates = form.mode.data, form.duplicates.data
        s.commit()
        app = current_app._get_current_object()
        try:
            jobs.queue(s, app, job)
        except jobs.JobBusy:  # started meanwhile (a second click)
            return redirect(url_for(".show", job_id=job.id))
        jobs.start(app, job.id)
        return redirect(url_for(".show", job_id=job.id))
    preview = child_preview = None
    if not issues:
        duplicates = form.duplicates.data if form.duplicates.data in jobs.DUPLICATES else "skip"
        rows = Rows(cur, obj.key, headers, columns, user=user, owner=owner, actor=user.username, duplicates=duplicates,
                    choices=chosen)
        preview = _preview(s, rows, main, headers, columns)
        if child:
            child_rows = Rows(cur, child.key, kids.headers, child_columns, user=user, owner=None, actor=user.username,
                              duplicates=duplicates, match=kids.match, choices=child_chosen)
            child_preview = _preview(s, child_rows, kids.table, kids.headers, child_columns)
        s.rollback()
    return render_template("imports/map.html", job=job, obj=obj, child=child, form=form, headers=headers,
                           child_headers=kids.headers, issues=issues, missing=missing, preview=preview,
                           child_preview=child_preview, bundle=cur.bundle, unsure=_unsure(judged, columns),
                           child_unsure=_unsure(child_judged, child_columns), found=found, chosen=chosen,
                           child_found=child_found, child_chosen=child_chosen,
                           empty=choices.EMPTY, options_of=choices.options_of)


def _choices(table: Table | None, columns: list[str], obj, prefix: str, posted) -> tuple[list, dict]:
    """The values of `table` that are no option of their select field (`choices.find`), and what each becomes:
    column -> text -> option (None: left empty); a text not in it stays as it is and fails its rows. Read from
    the posted form (`v<prefix><column>-<n>`, beside the text it was shown for), else the guessed options."""
    found = choices.find(table, columns, obj)
    chosen: dict[int, dict] = {}
    for u in found:
        allowed = {value for value, _label in choices.options_of(u.field)}
        picks = {}
        for n, (text, _rows, like) in enumerate(u.values):
            name = f"v{prefix}{u.column}-{n}"
            pick = like or ""
            if posted is not None and posted.get(f"{name}-text") == text:
                pick = posted.get(name, "")
            if pick == choices.EMPTY:
                picks[text] = None
            elif pick in allowed:
                picks[text] = pick
        if picks:
            chosen[u.column] = picks
    return found, chosen


def _samples(table: Table | None) -> list[list]:
    """The cells of the first rows, from which a column's values tell what it holds (`mapping.judge`)."""
    if table is None:
        return []
    try:
        return [cells for _number, cells in islice(table.rows(), PREVIEW)]
    except SheetError:
        return []


def _unsure(judged: list, columns: list[str]) -> dict[int, str]:
    """column -> how its target was guessed, where the guess was not a heading equal to a field's label or key
    and the column still goes to the guessed field: the page asks the importer to check those."""
    return {i: how for i, (target, how) in enumerate(judged)
            if target and how != EXACT and i < len(columns) and columns[i] == target}


def _preview(s, rows: Rows, table: Table, headers: list[str], columns: list[str]) -> dict:
    shown = [i for i, t in enumerate(columns) if t]
    at = now()
    lines = [(number, [cells[i] for i in shown], rows.check(s, cells, at)) for number, cells in islice(table.rows(), PREVIEW)]
    return {"headings": [headers[i] for i in shown], "rows": lines}


@bp.route("/import/<int:job_id>")
@login_required
def show(job_id: int):
    job = _job(job_id)
    if job.status == "draft":
        return redirect(url_for(".mapping", job_id=job.id))
    cur = workspace()
    obj = cur.bundle.objects.get(job.object) or abort(404)
    s = db.session()
    mine = ImportProblem.job_id == job.id
    notes = s.scalars(select(ImportProblem).where(mine).order_by(ImportProblem.stage.desc(), ImportProblem.file_row,
                                                                 ImportProblem.id).limit(NOTES)).all()
    counted = s.scalar(select(func.count()).select_from(ImportProblem).where(mine)) if len(notes) == NOTES else len(notes)
    return render_template("imports/job.html", job=job, obj=obj, state=jobs.state(current_app._get_current_object(), job),
                           notes=notes, counted=counted, summary=_summary(s, job) if counted > 1 else [],
                           bundle=cur.bundle)


def _summary(s, job: ImportJob) -> list:
    """The job's problems grouped by table, column and message (a value that is no option, the same in every
    row that holds it, is one line): (stage, column, message, kind, rows, first row), the commonest first; only
    when some message repeats, else the list of problems says it all."""
    p = ImportProblem
    rows = s.execute(select(p.stage, p.column_label, p.message, p.kind, func.count(), func.min(p.file_row))
                     .where(p.job_id == job.id).group_by(p.stage, p.column_label, p.message, p.kind)
                     .order_by(func.count().desc(), func.min(p.file_row)).limit(SUMMARY)).all()
    return rows if rows and rows[0][4] > 1 else []


@bp.route("/import/<int:job_id>/progress")
@login_required
def progress(job_id: int):
    return jsonify(jobs.state(current_app._get_current_object(), _job(job_id)))


@bp.route("/import/<int:job_id>/errors.xlsx")
@login_required
def errors(job_id: int):
    from .report import write_errors
    job = _job(job_id)
    if job.status == "draft":
        abort(404)
    cur = workspace()
    out = tempfile.TemporaryFile()
    write_errors(db.session(), cur.bundle, job, out)
    return send_temporary(out, XLSX, f"{Path(job.filename).stem}-errors.xlsx")


@bp.route("/import/<int:job_id>/resume", methods=["POST"])
@login_required
def resume(job_id: int):
    job = _job(job_id)
    app = current_app._get_current_object()
    try:
        jobs.queue(db.session(), app, job)
    except jobs.JobBusy:
        db.session().rollback()
        flash(_("This import cannot be resumed: it is running or has finished."), "error")
        return redirect(url_for(".show", job_id=job.id))
    jobs.start(app, job.id)
    flash(_("The import goes on from where it stopped."), "ok")
    return redirect(url_for(".show", job_id=job.id))
