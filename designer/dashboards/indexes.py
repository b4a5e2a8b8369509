"""Expression indexes the dashboards need besides the classifications' own (`bundles.indexes`).

Two charts read field values rather than classifications: the lifecycle
funnel counts records per value of a select field (by default the
stage-like one), and the follow-up activity counts activities by their
`activity_time`. At a million records either is a scan of every record's
JSON unless the exact expression the query uses is indexed, per object, as
the classifications are. The names share the classifications' prefix, so
`bundles.indexes.sync` can keep, make and drop them with its own, and
Alembic leaves them alone.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session

from ..bundles.indexes import PREFIX, value_sql
from .filters import classifications, default_funnel


#: what follows the field's value in each kind of index: the funnel's counts are scoped by owner, the
#: activities by their parent (its owner), both answered from the index alone
_AFTER = {"funnel": ("owner", "_o"), "activity": ("parent_id", "_p")}


def _name(obj: str, key: str, kind: str) -> str:
    suffix = _AFTER[kind][1]  # a changed definition is a new name: publishing drops the old index
    name = f"{PREFIX}{obj}_f_{key}{suffix}"
    if len(name) > 60:
        name = PREFIX + hashlib.sha1(f"{obj}.f.{key}".encode()).hexdigest()[:20] + suffix
    return name


def wanted(bundle) -> dict[str, tuple[str, str, str]]:
    """index name -> (object, field key, kind): the default funnel field of each charted object, and the
    `activity_time` field of each follow-up policy's activities."""
    out = {}
    for obj in {c.object for c in classifications(bundle)}:
        key = default_funnel(bundle, obj)
        if key in bundle.objects[obj].fields:
            out[_name(obj, key, "funnel")] = (obj, key, "funnel")
    for policy in bundle.document.get("followup") or []:
        child, at = policy.get("activity"), policy.get("activity_time", "created_at")
        if child in bundle.objects and at in bundle.objects[child].fields:
            out[_name(child, at, "activity")] = (child, at, "activity")
    return out


def statement(dialect: str, name: str, obj: str, key: str, kind: str) -> str:
    """The CREATE INDEX of one wanted index, on the very expression dashboards.queries filter and group by."""
    expr = value_sql(dialect, key, column="data", table="")
    return f'CREATE INDEX IF NOT EXISTS "{name}" ON records ({expr}, {_AFTER[kind][0]}) WHERE object = \'{obj}\''


def create(session: Session, bundle):
    """Make the wanted indexes that are missing (what publishing does once `bundles.indexes.sync` includes them)."""
    dialect = session.get_bind().dialect.name
    for name, spec in wanted(bundle).items():
        session.execute(text(statement(dialect, name, *spec)))
