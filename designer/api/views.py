"""The REST API under /api/v1: records of every object with their children, classifications and history.

Callers authenticate with a per-user token (`Authorization: Bearer <token>`,
made by `tierwise user token`) or the browser session; a session's unsafe
requests must carry the CSRF token (`X-CSRFToken`), a token's need not. Every
write goes through the one save pipeline (`records.store`), so the API checks
values, duplicates and permissions exactly as the pages do. A record out of
the caller's scope answers 404, the same as one that does not exist.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import Decimal

from flask import Blueprint, Response, current_app, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from engine import BundleInvalid, RecordInvalid, load_bundle_text
from engine.errors import FieldProblem

from .. import db
from ..auth.login import current_db_user, token_authenticated
from ..auth.scope import can_see, owners_visible_to
from ..bundles import publishing
from ..bundles.workspace import NoBundle, current
from ..clock import now
from ..models import AuditEntry, BundleVersion, ClassificationChange, PublishJob, Record, User
from ..records import listing
from ..records.duplicates import DuplicateFound
from ..records.store import StaleRecord, children_of, delete_record, save
from ..security import csrf
from ..workflows import replan
from . import body as bodies
from . import openapi
from .responses import ApiError, invalid, problems_json, reply
from .serialize import audit_json, change_json, object_json, record_json, version_json

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # checked below, for session-authenticated requests only

#: most records one list request returns
MAX_PAGE = 200


@bp.before_request
def authenticate():
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthorized", "Log in, or send an API token as `Authorization: Bearer <token>`.",
                       headers={"WWW-Authenticate": 'Bearer realm="tierwise"'})
    if not token_authenticated() and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.after_request
def no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    db.session().rollback()
    return exc.reply()


@bp.errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    return ApiError(400, "csrf", f"{exc.description} A session-authenticated request must send the CSRF token in "
                                 "the X-CSRFToken header; API clients should use a token instead.").reply()


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    db.session().rollback()
    code = (exc.name or "error").lower().replace(" ", "_")
    return ApiError(exc.code or 500, code, exc.description or exc.name).reply()


@bp.get("/")
def index():
    return reply({"openapi": url_for("api.openapi_document"), "objects": url_for("api.objects"),
                  "bundle": url_for("api.show_bundle")})


@bp.route("/<path:_rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown(_rest):
    """JSON for paths no endpoint has, and 405 for a method another endpoint of the path does not take."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PATCH", "DELETE"):
        try:
            endpoint, _args = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.path} takes {', '.join(allowed)}, not {request.method}.",
                       headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, "not_found", f"There is no API endpoint {request.path}; see /api/v1/openapi.json.")


# -- helpers -------------------------------------------------------------------------------------------------------


def _workspace():
    try:
        return current(db.session())
    except NoBundle:
        raise ApiError(503, "no_bundle", "No bundle has been published yet; an admin can publish one with "
                                         "`tierwise publish BUNDLE` or POST /api/v1/bundle.") from None


def _top_object(cur, key: str):
    obj = cur.bundle.objects.get(key)
    if obj is None or obj.parent is not None:
        tops = [k for k, o in cur.bundle.objects.items() if o.parent is None]
        raise ApiError(404, "not_found", f"There is no top-level object `{key}`; objects: {', '.join(tops)}.")
    return obj


def _not_found(record_id) -> ApiError:
    return ApiError(404, "not_found", f"There is no record {record_id} that you may see.")


def _record(cur, record_id: int) -> Record:
    """A record of the current bundle the user may see; 404 otherwise, whether it exists or not."""
    s = db.session()
    record = s.get(Record, record_id)
    if record is None or record.object not in cur.bundle.objects or not can_see(s, current_db_user(), record):
        raise _not_found(record_id)
    return record


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(400, "bad_request", f"`{name}` must be a whole number from {low} to {high}; got {value!r}.")
    return int(value)


def _full(cur, record: Record) -> dict:
    obj = cur.bundle.objects[record.object]
    return record_json(cur.bundle, record, children_of(db.session(), record, obj.children) if obj.children else None)


def _commit():
    """Commit, then forget what was written so replies show the records as stored (as a later GET will)."""
    db.session().commit()
    db.session().expire_all()


def _etag(record: Record) -> dict:
    return {"ETag": f'"{record.version}"'}


def _owner(cur, user: User, body: dict, *, creating: bool, present: str | None, problems: list) -> str | None:
    """The owner a create or update asks for (None: the creator, or leave as is), after the role checks.

    Reps own what they create and can neither give records away nor take
    them (claiming from a pool has its own rules); admins may name any user,
    managers anyone in their scope (themselves, their team, their reports).
    """
    if "owner" not in body:
        return None
    wanted = body.pop("owner")
    if wanted == (user.username if creating else present):
        return None
    if user.role == "rep":
        raise ApiError(403, "forbidden", "Only admins and managers may choose a record's owner.")
    if not isinstance(wanted, str) or not wanted.strip():
        problems.append(FieldProblem("owner", bodies.message(cur.bundle, "not_owner")))
        return None
    s = db.session()
    if s.scalar(select(User.id).where(User.username == wanted, User.active.is_(True))) is None:
        problems.append(FieldProblem("owner", bodies.message(cur.bundle, "no_user", owner=wanted)))
        return None
    scope = owners_visible_to(s, user)
    if scope is not None and wanted not in scope:
        raise ApiError(403, "forbidden", f"`{wanted}` is not in your team; a manager may give records only to "
                                         "people they manage.")
    return wanted


def _save(cur, actor: str, object_key: str, values: dict, problems: list, **kw):
    """The store's save, with the problems found in the request reported together with the store's own
    (less those under a path already reported: a child row that is not a record has no fields to fault)."""
    s = db.session()
    try:
        saved = save(s, cur, actor, object_key, values, now=now(), **kw)
    except RecordInvalid as exc:
        reported = tuple(p.path + "." for p in problems)
        raise invalid(problems + [p for p in exc.problems if not p.path.startswith(reported)]) from None
    except DuplicateFound as exc:
        if problems:
            raise invalid(problems) from None
        raise ApiError(409, "duplicate", "This looks like a record that already exists. Check the records named, "
                                         "then send the request again with ?allow_duplicates=1 to save it anyway.",
                       fields=problems_json(exc.problems)) from None
    if problems:
        raise invalid(problems)
    return saved


def _stale(cur, record_id: int) -> ApiError:
    """409 with the record as it is now (or 404 if it is gone); the caller's change was not written."""
    s = db.session()
    s.rollback()
    record = s.get(Record, record_id)
    if record is None:
        return _not_found(record_id)
    s.refresh(record)
    return ApiError(409, "stale", f"The record changed since you read it (it is at version {record.version}); "
                                  "nothing was written. Apply your change to the current record below and send it "
                                  "again with its version.", body={"record": _full(cur, record)},
                    headers=_etag(record))


# -- objects and records -------------------------------------------------------------------------------------------


@bp.get("/objects")
def objects():
    cur = _workspace()
    bundle = cur.bundle
    return reply({"version": cur.version, "bundle": bundle.id, "title": bundle.title, "locale": bundle.locale,
                  "timezone": bundle.timezone, "objects": [object_json(bundle, o) for o in bundle.objects.values()]})


@bp.get("/o/<object_key>/records")
def list_records(object_key: str):
    cur = _workspace()
    obj = _top_object(cur, object_key)
    args = request.args
    size = _int_arg("limit", min(current_app.config.get("PAGE_SIZE", 50), MAX_PAGE), 1, MAX_PAGE)
    known = {c.key: c for c in cur.bundle.classifications_of(obj.key)}
    for name, value in args.items():
        if not name.startswith("c."):
            continue
        c = known.get(name[2:])
        if c is None:
            raise ApiError(400, "bad_request", f"There is no classification `{name[2:]}` to filter {obj.key} by; "
                                               f"filters: {', '.join(sorted('c.' + k for k in known)) or 'none'}.")
        if c.type == "number" and value not in ("", "(empty)") and not _is_number(value):
            raise ApiError(400, "bad_request", f"`{name}` is a number; got {value!r}.")
    if args.get("sort") and args["sort"] not in listing.SORTS:
        raise ApiError(400, "bad_request", f"`sort` must be one of {', '.join(listing.SORTS)}.")
    if args.get("after"):
        _check_cursor(args["after"], args.get("sort") or "-updated")
    page = listing.query(db.session(), cur, obj, current_db_user(), args, size=size)
    if page.expr_error:
        raise ApiError(400, "invalid_filter", f"expr, column {page.expr_error['column']}: {page.expr_error['message']}",
                       column=page.expr_error["column"], kind=page.expr_error.get("kind"))
    return reply({"records": [record_json(cur.bundle, r) for r in page.records], "next": page.next_cursor})


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _check_cursor(cursor: str, sort: str):
    """A cursor is what a previous page's `next` gave: [last sort value, last id], base64 JSON."""
    try:
        value, last_id = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        if isinstance(last_id, bool) or not isinstance(last_id, int):
            raise ValueError
        if sort.lstrip("-") in ("updated", "created"):
            datetime.fromisoformat(value)
        elif not isinstance(value, str):
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ApiError(400, "bad_request", "`after` is not a cursor this list gave (use the `next` of the "
                                           "previous page, with the same sort).") from None


@bp.post("/o/<object_key>/records")
def create(object_key: str):
    cur = _workspace()
    obj = _top_object(cur, object_key)
    body = bodies.json_object()
    user = current_db_user()
    problems: list = []
    owner = _owner(cur, user, body, creating=True, present=None, problems=problems) or user.username
    values, found = bodies.split(cur.bundle, obj, body, children=True)
    saved = _save(cur, user.username, obj.key, values, problems + found, owner=owner,
                  allow_duplicates=_flag("allow_duplicates"))
    _commit()
    out = _full(cur, saved.record)
    if saved.warnings:
        out["warnings"] = problems_json(saved.warnings)
    return reply(out, 201, {"Location": url_for("api.show", record_id=saved.record.id), **_etag(saved.record)})


@bp.get("/records/<int:record_id>")
def show(record_id: int):
    cur = _workspace()
    record = _record(cur, record_id)
    return reply(_full(cur, record), headers=_etag(record))


@bp.patch("/records/<int:record_id>")
def update(record_id: int):
    cur = _workspace()
    record = _record(cur, record_id)
    obj = cur.bundle.objects[record.object]
    body = bodies.json_object()
    version = bodies.expected_version(body)
    if record.version != version:
        raise _stale(cur, record_id)
    user = current_db_user()
    problems: list = []
    owner = (_owner(cur, user, body, creating=False, present=record.owner, problems=problems)
             if obj.parent is None else None)
    values, found = bodies.split(cur.bundle, obj, body, current=record.data | (record.computed or {}))
    before = (record.owner, record.pool)
    if owner is not None and owner != record.owner:
        record.owner, record.pool = owner, None  # assigned: out of any public pool
    try:
        _save(cur, user.username, obj.key, values, problems + found, record=record, expected_version=version,
              allow_duplicates=_flag("allow_duplicates"))
        if (record.owner, record.pool) != before:
            db.session().add(AuditEntry(record_id=record.id, object=record.object, at=now(), actor=user.username,
                                        action="update", changes={"owner": [before[0], record.owner],
                                                                  **({"pool": [before[1], None]} if before[1] else {})}))
        _commit()
    except (StaleRecord, StaleDataError):
        raise _stale(cur, record_id) from None
    return reply(_full(cur, record), headers=_etag(record))


@bp.delete("/records/<int:record_id>")
def remove(record_id: int):
    cur = _workspace()
    record = _record(cur, record_id)
    version = bodies.expected_version(bodies.json_object(optional=True))
    user = current_db_user()
    if user.role == "rep":
        top = record if record.parent_id is None else db.session().get(Record, record.parent_id)
        if top.owner != user.username:
            raise ApiError(403, "forbidden", "A rep may delete only records they own.")
    try:
        delete_record(db.session(), cur, user.username, record, now=now(), expected_version=version)
        _commit()
    except (StaleRecord, StaleDataError):
        raise _stale(cur, record_id) from None
    return Response(status=204)


@bp.post("/records/<int:record_id>/<child_key>")
def add_child(record_id: int, child_key: str):
    cur = _workspace()
    parent = _record(cur, record_id)
    obj = cur.bundle.objects[parent.object]
    if child_key not in obj.children:
        raise ApiError(404, "not_found", f"{obj.key} records have no child object `{child_key}`; children: "
                                         f"{', '.join(obj.children) or 'none'}.")
    child = cur.bundle.objects[child_key]
    values, problems = bodies.split(cur.bundle, child, bodies.json_object())
    try:
        saved = _save(cur, current_db_user().username, child_key, values, problems, parent=parent,
                      allow_duplicates=_flag("allow_duplicates"))
        _commit()
    except StaleDataError:
        raise _stale(cur, record_id) from None
    out = _full(cur, saved.record)
    out["parent"] = {"id": parent.id, "version": parent.version}
    return reply(out, 201, {"Location": url_for("api.show", record_id=saved.record.id), **_etag(saved.record)})


@bp.get("/records/<int:record_id>/history")
def history(record_id: int):
    cur = _workspace()
    record = _record(cur, record_id)
    limit = _int_arg("limit", 100, 1, 1000)
    s = db.session()
    changes = s.scalars(select(ClassificationChange).where(ClassificationChange.record_id == record.id)
                        .order_by(ClassificationChange.at.desc(), ClassificationChange.id.desc()).limit(limit)).all()
    audit = s.scalars(select(AuditEntry).where(AuditEntry.record_id == record.id)
                      .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)).all()
    return reply({"id": record.id, "classifications": [change_json(c) for c in changes],
                  "audit": [audit_json(a) for a in audit]})


# -- the bundle ----------------------------------------------------------------------------------------------------

#: content types a bundle may be sent as -> the file name its problems are reported against
BUNDLE_TYPES = {"application/yaml": "bundle.yaml", "application/x-yaml": "bundle.yaml", "text/yaml": "bundle.yaml",
                "text/x-yaml": "bundle.yaml", "text/plain": "bundle.yaml", "application/json": "bundle.json"}


def _role(*roles: str) -> User:
    user = current_db_user()
    if user.role not in roles:
        raise ApiError(403, "forbidden", f"Only {' and '.join(r + 's' for r in roles)} may do this.")
    return user


@bp.post("/bundle")
def publish_bundle():
    """Publish the body as a new immutable version of the workspace bundle; every record is reclassified.

    The publish runs as a background job (`bundles.publishing`): done within a few seconds, the answer is
    201 with the version, as it always was; longer (a large workspace), 202 with the job and its Location,
    which the client polls. The bundle is checked first, so its problems are a 422 at once."""
    user = _role("admin")
    filename = BUNDLE_TYPES.get(request.mimetype)
    if filename is None:
        raise ApiError(415, "unsupported_media_type", "Send the bundle as its text with Content-Type "
                                                      "application/yaml, application/json or text/plain.")
    try:
        source = request.get_data().decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "The bundle is not UTF-8 text.") from None
    try:
        load_bundle_text(source, filename)
    except BundleInvalid as exc:
        raise _invalid_bundle(exc.problems) from None
    app = current_app._get_current_object()
    try:
        job = publishing.start(app, db.session(), source=source, filename=filename, actor=user.username,
                               note=request.args.get("note", "")[:2000])
    except publishing.Busy as exc:
        raise ApiError(409, "publish_running", f"{exc}; wait until it is done (GET its Location), then publish "
                                               "again.", job=publishing.state(app, exc.job),
                       headers={"Location": url_for("api.show_publish", job_id=exc.job.id)}) from None
    publishing.wait(app, job.id)
    state, version = _publish_state(job.id)
    if state["status"] == "done":
        return reply({"version": version.id, "report": version.report, "job": state,
                      "planning": replan.progress_of(db.session(), version.id)}, 201,
                     {"Location": url_for("api.show_bundle")})
    if state["finished"]:
        raise _publish_failed(state)
    return reply({"job": state}, 202, {"Location": url_for("api.show_publish", job_id=job.id)})


@bp.get("/bundle/publishes/<int:job_id>")
def show_publish(job_id: int):
    """A publish job: its status, phase and count while it runs; the version and its report once done."""
    _role("admin")
    state, version = _publish_state(job_id)
    if version is not None:
        return reply({"job": state, "version": version.id, "report": version.report,
                      "planning": replan.progress_of(db.session(), version.id)})
    if state["finished"] and state["status"] != "done":
        raise _publish_failed(state)
    return reply({"job": state})


def _publish_state(job_id: int) -> tuple[dict, BundleVersion | None]:
    s = db.session()
    s.expire_all()
    job = s.get(PublishJob, job_id)
    if job is None:
        raise ApiError(404, "not_found", f"There is no publish {job_id}.")
    state = publishing.state(current_app._get_current_object(), job)
    return state, (s.get(BundleVersion, job.version) if state["status"] == "done" else None)


def _publish_failed(state: dict) -> ApiError:
    if state["problems"]:
        return _invalid_bundle(state["problems"], job=state)
    if state["status"] == "interrupted":
        return ApiError(500, "publish_interrupted", "The server running the publish stopped; nothing was "
                                                    "published. Publish again.", job=state)
    return ApiError(500, "publish_failed", f"Publishing failed and nothing was published: {state['message']}. "
                                           "Publish again; if it fails again, tell whoever runs the server.",
                    job=state)


def _invalid_bundle(problems: list, **extra) -> ApiError:
    """422 listing every problem of the bundle (engine Problems or their dicts), each located."""
    problems = [{"kind": None, **(p if isinstance(p, dict) else p.as_dict())} for p in problems]
    return ApiError(422, "invalid_bundle", f"The bundle has {len(problems)} problem"
                                          f"{'s' if len(problems) != 1 else ''}; nothing was published.",
                    problems=problems, **extra)


@bp.get("/bundle")
def show_bundle():
    _role("admin", "manager")
    s = db.session()
    row = s.scalar(select(BundleVersion).order_by(BundleVersion.id.desc()).limit(1))
    if row is None:
        raise ApiError(404, "no_bundle", "No bundle has been published yet.")
    return reply({**version_json(row, source=True), "planning": replan.progress_of(s, row.id)})


@bp.get("/openapi.json")
def openapi_document():
    return reply(openapi.document(_workspace()))
