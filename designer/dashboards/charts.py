"""Each dashboard chart as a table of numbers: what the chart draws, the table under it shows, and its CSV holds.

A chart is a heading row and rows whose first cell labels the row; `kind`
tells dashboards.js how to draw it (bar, line, heatmap, funnel). Values
are in their declared order (a classification's tiers, a select's options),
then any others, then "—" for records without one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import User
from ..records.display import choices
from . import queries
from .filters import Filters, funnel_values

#: the label of "no value": records not classified (or not there yet, in the history charts)
NONE = "—"


@dataclass
class Chart:
    key: str
    title: str
    kind: str
    columns: list
    rows: list
    #: one line under the title: what the numbers count, and when
    note: str = ""

    def as_json(self) -> dict:
        return {"key": self.key, "title": self.title, "kind": self.kind, "columns": self.columns, "rows": self.rows,
                "note": self.note}


def _ordered(declared: list[str], seen) -> list:
    """Declared values first, then values found in the data (sorted), then None."""
    others = sorted(v for v in seen if v is not None and v not in declared)
    return declared + others + ([None] if None in seen else [])


def _label(v) -> str:
    return NONE if v is None else v


def distribution(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    c = f.classification
    found = queries.counts(s, f.object, c.key, owners)
    values = _ordered(choices(c), found)
    return Chart("distribution", _("Tier distribution: %(label)s", label=c.label), "bar",
                 [c.label, _("Records")], [[_label(v), found.get(v, 0)] for v in values],
                 _("Records in each tier now."))


def migration(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    c = f.classification
    m = queries.migration(s, f.object, c.key, owners, f.first(), f.last(), queries.shared(bundle, c.object, c.key))
    declared = choices(c)
    before = _ordered(declared, {a for a, _b in m.cells})
    after = _ordered(declared, {b for _a, b in m.cells})
    head = _("On %(start)s ↓ / on %(end)s →", start=f.start.isoformat(), end=f.end.isoformat())
    rows = [[_label(a)] + [m.cells.get((a, b), 0) for b in after] for a in before]
    return Chart("migration", _("Tier migration: %(label)s", label=c.label), "heatmap",
                 [head] + [_label(b) for b in after], rows,
                 _("Records by their tier at the start of %(start)s (rows) and at the end of %(end)s (columns); "
                   "— means not there yet, or without a tier.", start=f.start.isoformat(), end=f.end.isoformat()))


def trend(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    c = f.classification
    points = f.points()
    series = queries.trend(s, f.object, c.key, owners, [at for _label, at in points],
                          queries.shared(bundle, c.object, c.key))
    values = _ordered(choices(c), {v for counts in series for v in counts})
    rows = [[label] + [counts.get(v, 0) for v in values] for (label, _at), counts in zip(points, series)]
    return Chart("trend", _("Tier counts over time: %(label)s", label=c.label), "line",
                 [_("Until")] + [_label(v) for v in values], rows,
                 _("Records in each tier at the end of each period, from the classification history."))


def overdue(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    found = queries.overdue(s, owners, now)
    names = dict(s.execute(select(User.username, User.display_name).where(User.username.in_(list(found)))).all())
    rows = sorted(([names.get(u) or u, n] for u, n in found.items()), key=lambda r: (-r[1], r[0]))
    return Chart("overdue", _("Overdue follow-ups per rep"), "bar", [_("Rep"), _("Overdue follow-ups")], rows,
                 _("Records whose next follow-up was due before now, by owner."))


def activity(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    weeks = f.weeks()
    policies = [p for p in bundle.document.get("followup") or [] if p.get("object") == f.object]
    columns, counts = [_("ISO week")], []
    for p in policies:
        child = bundle.objects[p["activity"]]
        at = p.get("activity_time", "created_at")
        kind = child.fields[at].type if at in child.fields else "datetime"
        columns.append(child.label if len(policies) == 1 else f"{child.label} ({p['key']})")
        counts.append(queries.activity(s, child.key, at, kind, owners, [w for _label, w in weeks], bundle.tz))
    rows = [[label] + [c[i] for c in counts] for i, (label, _at) in enumerate(weeks[:-1])]
    note = _("Follow-up records (the activities of each follow-up policy) per ISO week.") if policies else \
        _("No follow-up policy is set for this object, so there are no follow-ups to count.")
    return Chart("activity", _("Follow-up activity per week"), "bar", columns, rows, note)


def funnel(s: Session, f: Filters, owners, bundle, now: datetime) -> Chart:
    obj = bundle.objects[f.object]
    key = f.funnel
    column = "data" if key in obj.fields else "computed"
    label = obj.fields[key].label if key in obj.fields else next(c.label for c in bundle.classifications
                                                                 if c.key == key and c.object == obj.key)
    found = queries.counts(s, obj.key, key, owners, column=column)
    values = _ordered(funnel_values(bundle, obj.key, key), found)
    return Chart("funnel", _("Lifecycle funnel: %(label)s", label=label), "funnel", [label, _("Records")],
                 [[_label(v), found.get(v, 0)] for v in values], _("Records at each value now."))


#: chart key -> the function that computes it, in page order
CHARTS = {"distribution": distribution, "migration": migration, "trend": trend, "overdue": overdue,
          "activity": activity, "funnel": funnel}
