"""Export pages: a list to XLSX or CSV, at once or, when long, in the background with a progress bar.

The list page's buttons post the list's filters here. A list of up to
`EXPORT_INLINE_ROWS` records is sent back at once (redirected to the direct
download, which scripts may also call); a longer one becomes an export job
(`jobs`) whose page shows the count and offers the file when it is written.
An export holds what its user may see, so only that user may fetch its file.
"""
from __future__ import annotations

import tempfile

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required

from .. import db
from ..auth.login import current_db_user
from ..clock import now
from ..downloads import XLSX, attachment, send_temporary
from ..models import ExportJob, User
from ..pages import object_of, workspace
from ..records import listing
from ..records.expression_filter import where_clause
from . import files, jobs

bp = Blueprint("exports", __name__, template_folder="templates")

#: list arguments that are not filters (the page's cursor, the form's own fields)
_NOT_FILTERS = ("after", "fmt", "csrf_token", "object_key")
MIMETYPES = {"xlsx": XLSX, "csv": "text/csv"}


def _filters(values) -> dict:
    return {k: v for k, v in values.items() if k not in _NOT_FILTERS}


def _broken(cur, obj, args: dict):
    """A redirect back to the list saying what is wrong with its expression filter, or None."""
    if not args.get("expr", "").strip():
        return None
    _clause, problem = where_clause(db.session(), cur.bundle, obj.key, args["expr"].strip())
    if problem is None:
        return None
    flash(_("The filter has an error (column %(column)s): fix it, then export.", column=problem["column"]), "error")
    return redirect(url_for("records.list_records", object_key=obj.key, **args))


def _name(cur, obj, fmt: str) -> str:
    return f"{obj.label}-{now().astimezone(cur.bundle.tz):%Y%m%d-%H%M}.{fmt}"


@bp.route("/o/<object_key>/export", methods=["POST"])
@login_required
def start(object_key: str):
    """Export the list the page showed: at once if it is short, else as a job with its own page."""
    fmt = request.form.get("fmt", "")
    if fmt not in files.FORMATS:
        abort(400)
    cur = workspace()
    obj = object_of(cur, object_key)
    args = _filters(request.form.to_dict())
    if (back := _broken(cur, obj, args)) is not None:
        return back
    user = current_db_user()
    total = listing.count(db.session(), cur, obj, user, args)
    if total <= current_app.config["EXPORT_INLINE_ROWS"]:
        return redirect(url_for(".download_list", object_key=obj.key, fmt=fmt, **args), code=303)
    job = jobs.start(current_app._get_current_object(), db.session(), user, obj.key, fmt, args,
                     _name(cur, obj, fmt), total)
    return redirect(url_for(".show", job_id=job.id), code=303)


@bp.route("/o/<object_key>/export.<fmt>")
@login_required
def download_list(object_key: str, fmt: str):
    """The list `request.args` describe as a file, written now (CSV streamed as it is written)."""
    if fmt not in files.FORMATS:
        abort(404)
    cur = workspace()
    obj = object_of(cur, object_key)
    user = current_db_user()
    args = _filters(request.args.to_dict())
    if (back := _broken(cur, obj, args)) is not None:
        return back
    name = _name(cur, obj, fmt)
    if fmt == "xlsx":
        out = tempfile.TemporaryFile()
        files.write_xlsx(files.rows(db.session(), cur, obj, user, args, fmt="xlsx"), out, obj.label)
        return send_temporary(out, XLSX, name)
    sessions = current_app.extensions["tierwise.sessions"]
    user_id = user.id

    def generate():
        with sessions() as s:
            yield from files.csv_chunks(files.rows(s, cur, obj, s.get(User, user_id), args, fmt="csv"))

    return Response(stream_with_context(generate()), mimetype="text/csv",
                    headers={"Content-Disposition": attachment(name)})


def _job(job_id: int) -> ExportJob:
    """The user's own export, or 404 (an export holds what its user may see)."""
    job = db.session().get(ExportJob, job_id)
    if job is None or job.username != current_db_user().username:
        abort(404)
    return job


@bp.route("/export/<int:job_id>")
@login_required
def show(job_id: int):
    job = _job(job_id)
    cur = workspace()
    obj = cur.bundle.objects.get(job.object)
    return render_template("exports/job.html", job=job, obj=obj, label=obj.label if obj else job.object,
                           state=jobs.state(current_app._get_current_object(), job))


@bp.route("/export/<int:job_id>/progress")
@login_required
def progress(job_id: int):
    return jsonify(jobs.state(current_app._get_current_object(), _job(job_id)))


@bp.route("/export/<int:job_id>/file")
@login_required
def file(job_id: int):
    job = _job(job_id)
    if job.status == "expired":
        abort(410, _("This export was deleted a day after it was made. Export the list again."))
    if job.status != "done":
        abort(404)
    return send_file(job.path, mimetype=MIMETYPES[job.fmt], as_attachment=True, download_name=job.filename)
