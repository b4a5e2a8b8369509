"""Dashboards for managers and admins (reps see their own records): the page, each chart as JSON and as CSV.

Every chart reads the same URL parameters (`dashboards.filters`), so the
page's address, a chart's JSON and its CSV all describe one view that can be
shared. The scope is the user's (`auth.scope`): admins see everything,
managers their team and the people under them, reps their own records; a
team narrows it further.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask_login import login_required
from sqlalchemy import select

from .. import db
from ..auth.login import current_db_user
from ..auth.scope import owners_visible_to
from ..clock import now
from ..exports.files import csv_chunks
from ..models import Team, User
from ..pages import workspace
from . import charts
from .filters import classifications, funnel_fields, parse

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards", template_folder="templates",
               static_folder="static", static_url_path="/static")


def _teams(s, owners) -> list[tuple[int, str]]:
    """Teams the user may narrow the dashboards to: all for an admin, else the teams of the people in scope."""
    stmt = select(Team.id, Team.name).order_by(Team.name)
    if owners is not None:
        stmt = stmt.join(User, User.team_id == Team.id).where(User.username.in_(owners)).distinct()
    return [(i, name) for i, name in s.execute(stmt)]


def _owners(s, owners, team: int | None) -> list[str] | None:
    """The scope narrowed to a team's members (None: everyone)."""
    if team is None:
        return owners
    members = set(s.scalars(select(User.username).where(User.team_id == team)))
    return sorted(members if owners is None else members & set(owners))


def _view():
    """(bundle, filters, owners, teams) of this request; 503 without a bundle, a page saying why without tiers."""
    s = db.session()
    bundle = workspace().bundle
    scope = owners_visible_to(s, current_db_user())
    teams = _teams(s, scope)
    filters = parse(request.args, bundle, now().astimezone(bundle.tz).date(), teams)
    owners = _owners(s, scope, filters.team) if filters else scope
    return bundle, filters, owners, teams


@bp.route("/")
@login_required
def page():
    bundle, filters, owners, teams = _view()
    found = []
    if filters is not None:
        at = now()
        found = [build(db.session(), filters, owners, bundle, at) for build in charts.CHARTS.values()]
    return render_template("dashboards/page.html", bundle=bundle, filters=filters, charts=found, teams=teams,
                           tiers=classifications(bundle),
                           funnel_fields=funnel_fields(bundle, filters.object) if filters else [])


def _chart(key: str):
    build = charts.CHARTS.get(key)
    if build is None:
        abort(404)
    bundle, filters, owners, _teams = _view()
    if filters is None:
        abort(404)
    return filters, build(db.session(), filters, owners, bundle, now())


@bp.route("/<key>.json")
@login_required
def data(key: str):
    filters, chart = _chart(key)
    return jsonify(chart=chart.as_json(), args=filters.args(), problems=filters.problems)


@bp.route("/<key>.csv")
@login_required
def csv(key: str):
    filters, chart = _chart(key)
    name = f"{chart.title}-{filters.start}-{filters.end}.csv"
    return Response("".join(csv_chunks(iter([chart.columns] + chart.rows))), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=\"{key}-{filters.start}-{filters.end}.csv\"; "
                                                    f"filename*=UTF-8''{quote(name, safe='')}"})
