"""What the page blueprints share: the published workspace, and an object of it named in the URL.

Pages answer 503 with what to do while nothing is published (the API says
it in JSON: `api.views`), and 404 for an object the bundle does not have.
"""
from __future__ import annotations

from flask import abort
from flask_babel import gettext as _

from . import db
from .bundles.workspace import Current, NoBundle, current


def workspace() -> Current:
    """The workspace as last published, or a 503 page saying how to publish one."""
    try:
        return current(db.session())
    except NoBundle:
        abort(503, _("No bundle has been published yet. An admin can publish one with `tierwise publish`."))


def object_of(cur: Current, key: str, top_level: bool = True):
    """The bundle's object `key` (a top-level one unless `top_level` is False), or 404."""
    obj = cur.bundle.objects.get(key)
    if obj is None or (top_level and obj.parent is not None):
        abort(404)
    return obj
