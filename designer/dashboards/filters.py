"""What a dashboard shows, read from its URL so a view can be shared: `from`, `to`, `team`, `classification`, `field`.

Bad values never fail the page: each is replaced by its default and named
in `problems` (parameter -> what to do), which the page shows above the
charts. `args()` writes the filters back as URL parameters; parsing them
again gives the same filters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from engine.fields import option_index

#: the default date range: the last 90 days, today included
DEFAULT_DAYS = 90
#: the longest range the trend and the activity charts take (ten years, 120 monthly points)
MAX_DAYS = 3660


def classifications(bundle) -> list:
    """Classifications that sort records into tiers (one value each): top-level objects, `hit: first`."""
    return [c for c in bundle.classifications if c.hit == "first" and bundle.objects[c.object].parent is None]


def funnel_fields(bundle, obj_key: str) -> list[tuple[str, str]]:
    """(key, label) of what the lifecycle funnel can count by: the object's select fields, then its tiers."""
    obj = bundle.objects[obj_key]
    out = [(k, f.label) for k, f in obj.fields.items() if f.type == "select"]
    return out + [(c.key, c.label) for c in classifications(bundle) if c.object == obj_key]


def funnel_values(bundle, obj_key: str, key: str) -> list[str]:
    """The values of a funnel field in their declared order (a select's options, a classification's tiers)."""
    f = bundle.objects[obj_key].fields.get(key)
    if f is not None:
        return option_index(f.spec)[0]
    from ..records.display import choices
    return next((choices(c) for c in bundle.classifications if c.key == key and c.object == obj_key), [])


def default_funnel(bundle, obj_key: str) -> str:
    """The funnel's field when the URL names none: a select field like `stage` (阶段), else the first choice."""
    options = funnel_fields(bundle, obj_key)
    obj = bundle.objects[obj_key]
    staged = [k for k, _label in options if k in obj.fields and ("stage" in k or "阶段" in obj.fields[k].label)]
    return (staged or [k for k, _label in options])[0]


@dataclass
class Filters:
    start: date
    end: date
    #: a team id, or None for the whole scope
    team: int | None
    #: the classification charted (distribution, migration, trend)
    classification: object
    #: the select field or classification the funnel counts by
    funnel: str
    tz: ZoneInfo
    #: URL parameter -> what was wrong with it and what was used instead
    problems: dict = field(default_factory=dict)

    @property
    def object(self) -> str:
        return self.classification.object

    def args(self) -> dict:
        out = {"from": self.start.isoformat(), "to": self.end.isoformat(), "classification": self.classification.key,
               "field": self.funnel}
        if self.team is not None:
            out["team"] = str(self.team)
        return out

    def first(self) -> datetime:
        """The instant the range starts (the start of `from`, local time)."""
        return datetime.combine(self.start, time(), self.tz)

    def last(self) -> datetime:
        """The instant the range ends (the end of `to`, local time): the values "on `to`" are those at this instant."""
        return datetime.combine(self.end + timedelta(days=1), time(), self.tz)

    def points(self) -> list[tuple[str, datetime]]:
        """(label, instant) of the trend: the end of each day (ranges up to a month), ISO week (up to half a
        year) or month, the last one cut at the end of `to`."""
        days = (self.end - self.start).days + 1
        out = []
        day = self.start
        while day <= self.end:
            if days <= 31:
                label, stop = day.isoformat(), day
            elif days <= 184:
                year, week, weekday = day.isocalendar()
                label, stop = f"{year}-W{week:02d}", day + timedelta(days=7 - weekday)
            else:
                label = f"{day.year}-{day.month:02d}"
                stop = (date(day.year + day.month // 12, day.month % 12 + 1, 1)) - timedelta(days=1)
            stop = min(stop, self.end)
            out.append((label, datetime.combine(stop + timedelta(days=1), time(), self.tz)))
            day = stop + timedelta(days=1)
        return out

    def weeks(self) -> list[tuple[str, datetime]]:
        """(ISO week, start) of each week the range touches, the first starting at `from`; then ("", end)."""
        out = []
        day = self.start
        while day <= self.end:
            year, week, weekday = day.isocalendar()
            out.append((f"{year}-W{week:02d}", datetime.combine(day, time(), self.tz)))
            day = day + timedelta(days=8 - weekday)
        return out + [("", self.last())]


def _date(args, name: str, default: date, problems: dict) -> date:
    text = (args.get(name) or "").strip()
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems[name] = _("“%(value)s” is not a date; write it as 2026-03-15. Showing %(default)s instead.",
                           value=text, default=default.isoformat())
        return default


def parse(args, bundle, today: date, teams: list[tuple[int, str]]) -> Filters | None:
    """The filters in `args` (request.args), checked against the bundle and the teams the user may pick.

    None when the bundle has no classification to chart.
    """
    tiers = classifications(bundle)
    if not tiers:
        return None
    problems: dict = {}
    chosen = args.get("classification", "")
    clf = next((c for c in tiers if c.key == chosen), None)
    if clf is None:
        clf = tiers[0]
        if chosen:
            problems["classification"] = _("There is no classification “%(key)s”; showing %(label)s.",
                                           key=chosen, label=clf.label)
    end = _date(args, "to", today, problems)
    start = _date(args, "from", end - timedelta(days=DEFAULT_DAYS - 1), problems)
    if start > end:
        problems["from"] = _("The start date is after the end date; showing the %(days)d days up to the end date.",
                             days=DEFAULT_DAYS)
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    elif (end - start).days >= MAX_DAYS:
        problems["from"] = _("Choose a range of at most ten years; showing the %(days)d days up to the end date.",
                             days=DEFAULT_DAYS)
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    team = None
    text = (args.get("team") or "").strip()
    if text:
        ids = {i for i, _name in teams}
        if text.isdigit() and int(text) in ids:
            team = int(text)
        else:
            problems["team"] = _("You cannot choose this team; showing all the records you may see.")
    funnel = args.get("field", "")
    if funnel not in {k for k, _label in funnel_fields(bundle, clf.object)}:
        if funnel:
            problems["field"] = _("“%(key)s” is not a select field or classification of %(object)s; "
                                  "choose one from the list.", key=funnel, object=bundle.objects[clf.object].label)
        funnel = default_funnel(bundle, clf.object)
    return Filters(start, end, team, clf, funnel, bundle.tz, problems)
