"""The web designer (/studio/): its pages and the JSON API the pages edit the draft bundle through.

Admins only. Every draft endpoint answers with the whole draft state
(`drafts.state`): the YAML source, the plain document, every problem at
line:col, and whether it differs from what is published. Visual edits arrive
as small operations applied with ruamel.yaml round-trip (`roundtrip`), so
the YAML a consultant wrote keeps its comments and key order. Publishing goes
through `designer.bundles.publish.publish` like the command line does.
"""
from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from engine import codecs

from .. import db
from ..auth.login import manager as login_manager
from ..bundles import publishing
from ..bundles.workspace import NoBundle, current
from ..clock import now
from ..models import ImpactJob, PublishJob, Record
from ..records.store import children_of, raw_of
from ..workflows import replan
from . import check as expressions
from . import drafts, previewing, roundtrip, templates_market, tester, versions
from .keys import key_for

bp = Blueprint("studio", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/studio")

_API = "/studio/api/"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")
#: the size limit as people read it
_LIMIT = f"{drafts.MAX_CHARS:,}"


def _fail(status: int, message: str, **extra):
    return jsonify(error=message, **extra), status


def _stop(status: int, message: str, **extra):
    """End the request with a JSON error (from inside a helper)."""
    response = jsonify(error=message, **extra)
    response.status_code = status
    abort(response)


@bp.before_request
def admins_only():
    api = request.path.startswith(_API)
    if not current_user.is_authenticated:
        return _fail(401, _("Log in first.")) if api else login_manager.unauthorized()
    if current_user.role != "admin":
        if api:
            return _fail(403, _("Only admins may use the designer."))
        abort(403)
    return None


# -- pages (templates by the studio frontend) ---------------------------------------------------------------

_PAGES = {"builder": "/studio/", "rules": "/studio/rules", "yaml": "/studio/yaml", "tester": "/studio/tester",
          "impact": "/studio/impact", "versions": "/studio/versions", "templates": "/studio/templates"}


def _page(name: str):
    def view():
        return render_template(f"studio/{name}.html", page=name)
    view.__name__ = name
    return view


for _name, _rule in _PAGES.items():
    bp.add_url_rule(_rule, _name, _page(_name))


# -- the draft ----------------------------------------------------------------------------------------------


def _draft():
    return drafts.draft(db.session(), now())


def _reply(row, status: int = 200):
    return jsonify(drafts.state(db.session(), row)), status


def _commit_reply(row):
    s = db.session()
    s.commit()
    return _reply(row)


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        _stop(400, _("Send a JSON object."))
    return body


@bp.get("/studio/api/draft")
def get_draft():
    row = _draft()
    db.session().commit()
    return _reply(row)


@bp.post("/studio/api/draft/ops")
def draft_ops():
    ops = _body().get("ops")
    row = _draft()
    try:
        text = roundtrip.apply(row.source, ops)
    except roundtrip.OpError as exc:
        return _fail(400, str(exc))
    drafts.save(row, text, actor=current_user.username, now=now())
    return _commit_reply(row)


@bp.put("/studio/api/draft/source")
def put_source():
    text = _body().get("source")
    if not isinstance(text, str):
        return _fail(400, _("`source` must be the YAML text of the bundle."))
    if len(text) > drafts.MAX_CHARS:
        return _fail(413, _("The bundle is too large (at most %(n)s characters).", n=_LIMIT))
    row = _draft()
    drafts.save(row, text, actor=current_user.username, now=now())
    return _commit_reply(row)


@bp.post("/studio/api/draft/reset")
def reset_draft():
    latest = drafts.published(db.session())
    row = _draft()
    drafts.save(row, latest.source if latest else drafts.SKELETON, actor=current_user.username, now=now(),
                base_version=latest.id if latest else None)
    return _commit_reply(row)


@bp.post("/studio/api/draft/import")
def import_draft():
    upload = request.files.get("bundle")
    if upload is None or not upload.filename:
        return _fail(400, _("Choose a bundle file (.yaml) to import."))
    raw = upload.stream.read(drafts.MAX_CHARS + 1)
    if len(raw) > drafts.MAX_CHARS:
        return _fail(413, _("The bundle is too large (at most %(n)s characters).", n=_LIMIT))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _fail(400, _("The file is not UTF-8 text; save it as UTF-8 and import it again."))
    if "\x00" in text:
        return _fail(400, _("This is a binary file, not a YAML bundle."))
    row = _draft()
    drafts.save(row, text, actor=current_user.username, now=now())
    return _commit_reply(row)


@bp.get("/studio/export")
def export_draft():
    row = _draft()
    db.session().commit()
    document = drafts.analyse(row.source).document
    name = document.get("bundle") if isinstance(document, dict) else None
    filename = f"{name if isinstance(name, str) and _SAFE_NAME.match(name) else 'bundle'}.yaml"
    return Response(row.source, mimetype="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- helpers for editing --------------------------------------------------------------------------------------


def _usable_bundle(row):
    """The draft's bundle for completions and checks: checked if it is valid, as far as it checks if not."""
    analysis = drafts.analyse(row.source)
    bundle = analysis.bundle or analysis.partial
    if bundle is None:
        _stop(409, _("The draft cannot be read; fix the problems in the YAML view first."),
              problems=[drafts.problem_json(p) for p in analysis.problems])
    return bundle


def _object_key(bundle, key) -> str:
    if not isinstance(key, str) or key not in bundle.objects:
        _stop(400, _("The draft has no object `%(key)s`.", key=key))
    return key


@bp.get("/studio/api/key")
def field_key():
    label = request.args.get("label", "")
    taken: set[str] = set()
    object_key = request.args.get("object")
    if object_key:
        document = drafts.analyse(_draft().source).document
        objects = document.get("objects") if isinstance(document, dict) else None
        spec = objects.get(object_key) if isinstance(objects, dict) else None
        fields = spec.get("fields") if isinstance(spec, dict) else None
        taken = {f.get("key") for f in fields or () if isinstance(f, dict)}
        taken |= set(objects or ())
    return jsonify(key=key_for(label, taken))


@bp.get("/studio/api/completions")
def completions():
    bundle = _usable_bundle(_draft())
    object_key = _object_key(bundle, request.args.get("object"))
    context = request.args.get("context", "condition")
    if context not in expressions.CONTEXTS:
        return _fail(400, _("`context` must be one of: %(names)s.", names=", ".join(expressions.CONTEXTS)))
    return jsonify(expressions.completions(bundle, object_key, context))


@bp.post("/studio/api/check")
def check_expression():
    body = _body()
    text = body.get("expression")
    if not isinstance(text, str):
        return _fail(400, _("`expression` must be text."))
    bundle = _usable_bundle(_draft())
    object_key = _object_key(bundle, body.get("object"))
    context = body.get("context", "condition")
    if context not in expressions.CONTEXTS:
        return _fail(400, _("`context` must be one of: %(names)s.", names=", ".join(expressions.CONTEXTS)))
    reply, checked = expressions.check(bundle, object_key, text, want=body.get("want") or "any", context=context)
    reply.update(value=None, value_error=None)
    record_id = body.get("sample_record_id")
    if checked is not None and record_id is not None:
        try:
            typed = _typed_record(bundle, object_key, record_id)
            reply["value"] = _json(bundle, expressions.sample_value(bundle, object_key, checked, typed, now()))
        except LookupError as exc:
            reply["value_error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a value that cannot be computed is shown, not raised
            reply["value_error"] = _("Cannot compute the value on this record: %(error)s", error=exc)
    return jsonify(reply)


def _typed_record(bundle, object_key: str, record_id) -> dict:
    """A live record as the draft types it (children included); LookupError with a message if unusable."""
    if not isinstance(record_id, int) or isinstance(record_id, bool):
        raise LookupError(_("`sample_record_id` must be a record number."))
    record = db.session().get(Record, record_id)
    if record is None or record.object != object_key:
        raise LookupError(_("There is no %(object)s record %(id)s.", object=object_key, id=record_id))
    obj = bundle.objects[object_key]
    raw = raw_of(record, children_of(db.session(), record, obj.children))
    return bundle.classifier(object_key).coerce(raw, problems=[])


def _json(bundle, value):
    return codecs.to_json(value, bundle.tz)


# -- rule tester, impact, publish -------------------------------------------------------------------------


def _valid_bundle(row):
    """The draft's checked bundle, or a 409 reply listing its problems."""
    analysis = drafts.analyse(row.source)
    if analysis.bundle is None:
        _stop(409, _("The draft has problems; fix them first."),
              problems=[drafts.problem_json(p) for p in analysis.problems])
    return analysis.bundle


@bp.post("/studio/api/test")
def test_record():
    body = _body()
    bundle = _valid_bundle(_draft())
    parent = None
    if body.get("record_id") is not None:
        record_id = body["record_id"]
        record = db.session().get(Record, record_id) if isinstance(record_id, int) else None
        if record is None:
            return _fail(404, _("There is no record %(id)s.", id=record_id))
        object_key = _object_key(bundle, record.object)
        raw = raw_of(record, children_of(db.session(), record, bundle.objects[object_key].children))
        if record.parent_id is not None:
            parent_row = db.session().get(Record, record.parent_id)
            parent = raw_of(parent_row) if parent_row is not None else None
    else:
        object_key = _object_key(bundle, body.get("object"))
        raw = body.get("values")
        if not isinstance(raw, dict):
            return _fail(400, _("`values` must be an object of field values."))
    reply = tester.run(bundle, object_key, raw, now(), parent)
    reply["object"] = object_key
    return jsonify(reply)


@bp.post("/studio/api/impact")
def impact_preview():
    """The draft's impact, computed in the background (`previewing`): the preview itself if it is done
    within a few seconds, else 202 and the job, whose count the page polls until the preview is there."""
    s = db.session()
    row = _draft()
    s.commit()
    bundle = _valid_bundle(row)
    app = current_app._get_current_object()
    job = previewing.start(app, s, bundle, current_user.username)
    previewing.wait(app, job.id)
    return _impact_reply(job.id)


@bp.get("/studio/api/impact/<int:job_id>")
def impact_progress(job_id: int):
    return _impact_reply(job_id)


def _impact_reply(job_id: int):
    s = db.session()
    s.expire_all()
    job = s.get(ImpactJob, job_id)
    if job is None:
        return _fail(404, _("There is no impact preview %(id)s.", id=job_id))
    state = previewing.state(current_app._get_current_object(), job)
    if state["status"] == "done":
        return jsonify({**job.result, "job": state})
    if state["status"] == "running":
        return jsonify(job=state), 202
    if state["status"] == "superseded":
        return _fail(409, _("A newer impact preview was started; this one stopped."), job=state)
    return _fail(500, _("The impact preview stopped: %(why)s. Open this page again to compute it again.",
                        why=state["message"] or _("the server that computed it stopped")), job=state)


@bp.post("/studio/api/publish")
def publish():
    """Publish the draft in the background (`publishing`): the version at once if it is done within a few
    seconds, else 202 and the job, whose progress the page polls."""
    note = _body().get("note", "")
    if not isinstance(note, str):
        return _fail(400, _("`note` must be text."))
    s = db.session()
    row = _draft()
    analysis = drafts.analyse(row.source)
    if analysis.bundle is None:
        return _fail(400, _("The draft has problems; fix them before publishing."),
                     problems=[drafts.problem_json(p) for p in analysis.problems])
    app = current_app._get_current_object()
    try:
        job = publishing.start(app, s, source=row.source, filename=drafts.FILENAME, actor=current_user.username,
                               note=note.strip(), then=_draft_published)
    except publishing.Busy as exc:
        return _fail(409, _("%(who)s is publishing already (started %(when)s); wait until it is done, then "
                            "publish again.", who=exc.job.username or "—",
                            when=exc.job.created_at.strftime("%H:%M:%S")),
                     job=publishing.state(app, exc.job))
    publishing.wait(app, job.id)
    return _publish_reply(job.id)


def _draft_published(session, version: int):
    """In the publish's transaction: the draft is now what version `version` holds."""
    drafts.draft(session, now()).base_version = version


def _publish_reply(job_id: int):
    s = db.session()
    s.expire_all()
    job = s.get(PublishJob, job_id)
    if job is None:
        return _fail(404, _("There is no publish %(id)s.", id=job_id))
    state = publishing.state(current_app._get_current_object(), job)
    if state["status"] == "done":
        return jsonify(version=job.version, report=versions.version(s, job.version).report, job=state)
    if state["problems"]:
        return _fail(400, _("The draft has problems; fix them before publishing."), problems=state["problems"],
                     job=state)
    if state["status"] == "interrupted":
        return _fail(500, _("Publishing stopped with the server that ran it, and nothing was published. Publish "
                            "again."), job=state)
    if state["finished"]:
        return _fail(500, _("Publishing failed and nothing was published: %(why)s. Publish again; if it fails "
                            "again, tell whoever runs the server.", why=state["message"]), job=state)
    return jsonify(job=state), 202


@bp.get("/studio/api/publish/<int:job_id>")
def publish_progress(job_id: int):
    return _publish_reply(job_id)


@bp.get("/studio/api/planning")
def planning():
    """How far the workers are with planning every record again after the current version's publish
    (`workflows.replan`); `planning` null when the publish planned every record itself."""
    s = db.session()
    try:
        version = current(s).version
    except NoBundle:
        return jsonify(version=None, planning=None)
    return jsonify(version=version, planning=replan.progress_of(s, version))


@bp.get("/studio/api/publish/running")
def publish_running():
    """The publish running now (a page opened while one runs shows its progress), or null."""
    job = publishing.running(current_app._get_current_object(), db.session())
    return jsonify(job=publishing.state(current_app._get_current_object(), job) if job else None)


# -- versions and templates ---------------------------------------------------------------------------------


@bp.get("/studio/api/versions")
def list_versions():
    return jsonify(versions.history(db.session()))


def _version(version_id: int):
    row = versions.version(db.session(), version_id)
    if row is None:
        _stop(404, _("There is no version %(id)s.", id=version_id))
    return row


@bp.get("/studio/api/versions/<int:a>/diff/<int:b>")
def diff_versions(a: int, b: int):
    return jsonify(versions.compare(db.session(), _version(a), _version(b)))


@bp.post("/studio/api/versions/<int:version_id>/restore")
def restore_version(version_id: int):
    old = _version(version_id)
    row = _draft()
    drafts.save(row, old.source, actor=current_user.username, now=now())
    return _commit_reply(row)


@bp.get("/studio/api/templates")
def list_templates():
    return jsonify(templates_market.available())


@bp.post("/studio/api/templates/<name>/install")
def install_template(name: str):
    text = templates_market.source(name)
    if text is None:
        return _fail(404, _("There is no template named %(name)s.", name=name))
    row = _draft()
    drafts.save(row, text, actor=current_user.username, now=now())
    return _commit_reply(row)

