"""Follow-up policies (SPEC §5): when a record's next follow-up is due, and when each reminder fires.

Pure: the caller hands in the record's values, its latest activity time and
the instant to evaluate at; nothing here reads a clock or a database.

The due time of a record is (its latest activity, or its `created_at`) plus
the `every` of the first cadence entry that holds. Whole-day intervals land
on a day, and the follow-up is due at the start of the working hours on that
day in the bundle's timezone (09:00 unless the policy's `working_hours` says
otherwise), never at midnight; with `working_days: true` the day moves
forward to the next working day of the bundle's calendar (`cn`: holidays
and 调休 workdays). Intervals in hours or minutes keep their exact instant,
moved into the working hours when the policy has working days or hours.

Reminders are offsets from the due time. Whole-day offsets keep the due
time's wall-clock time (09:00 stays 09:00 across a DST change); with working
days, a reminder before the due time moves back to the previous working
day and one after it forward to the next, so "a day before" still comes
before and "two days overdue" never lands on a holiday.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from .durations import parse_duration
from .expr.codegen import compile_expression
from .fields import TYPES, Context

_DAY = timedelta(days=1)
#: Start and end of the working hours when a policy names none.
DEFAULT_HOURS = (time(9, 0), time(18, 0))


@dataclass(frozen=True)
class Cadence:
    index: int
    every: timedelta
    #: holds(values, today, now) -> bool
    holds: object
    label: str | None


@dataclass(frozen=True)
class Reminder:
    index: int
    #: offset from the due time: negative before, positive overdue
    at: timedelta
    #: owner | manager | admins | a username | a list of these
    notify: object
    label: str | None

    @property
    def escalation(self) -> bool:
        """A reminder to someone above the owner (SPEC §5: `notify: manager`, or the admins)."""
        who = self.notify if isinstance(self.notify, list) else [self.notify]
        return "manager" in who or "admins" in who


@dataclass(frozen=True)
class Policy:
    """One checked follow-up policy of a bundle, its cadence conditions compiled."""

    key: str
    object: str
    label: str
    #: child object whose records are activities (None: only `created_at` counts)
    activity: str | None
    #: the activity's date/datetime field, or `created_at`
    activity_time: str
    cadence: tuple[Cadence, ...]
    working_days: bool
    #: whether the policy names its own working hours (then sub-day intervals keep inside them too)
    hours_given: bool
    start: time
    end: time
    #: sorted by instant relative to the due time (then by index)
    reminders: tuple[Reminder, ...]
    #: after downtime: `all` (each missed reminder) or `digest` (one message per person)
    catch_up: str
    #: the cadence conditions read child records (aggregates): evaluate them on a full classification
    reads_children: bool


def policies(bundle, object_key: str | None = None) -> list[Policy]:
    """The bundle's follow-up policies (of one object), compiled once per bundle."""
    compiled = getattr(bundle, "_followup_policies", None)
    if compiled is None:
        compiled = [_compile(bundle, i, spec) for i, spec in enumerate(bundle.document.get("followup") or [])]
        bundle._followup_policies = compiled
    return [p for p in compiled if object_key is None or p.object == object_key]


def policy(bundle, key: str) -> Policy | None:
    return next((p for p in policies(bundle) if p.key == key), None)


def _compile(bundle, i: int, spec: dict) -> Policy:
    cadence = []
    reads_children = False
    for j, entry in enumerate(spec.get("cadence") or []):
        checked = bundle.checked.get(("followup", i, "cadence", j, "when"))
        if checked is None:
            continue
        reads_children = reads_children or bool(checked.aggregates)
        fn = compile_expression(bundle.module, checked, f"followup_{i}_cadence_{j}", mode="truth")
        cadence.append(Cadence(j, parse_duration(entry["every"]), fn, entry.get("label")))
    hours = spec.get("working_hours")
    start, end = DEFAULT_HOURS
    if isinstance(hours, dict):
        start, end = time.fromisoformat(hours["start"]), time.fromisoformat(hours["end"])
    reminders = [Reminder(j, parse_duration(r["at"]), r["notify"], r.get("label"))
                 for j, r in enumerate(spec.get("reminders") or [])]
    reminders.sort(key=lambda r: (r.at, r.index))
    return Policy(key=spec["key"], object=spec["object"], label=spec.get("label") or spec["key"],
                  activity=spec.get("activity"), activity_time=spec.get("activity_time", "created_at"),
                  cadence=tuple(cadence), working_days=spec.get("working_days") is True,
                  hours_given=isinstance(hours, dict), start=start, end=end, reminders=tuple(reminders),
                  catch_up=spec.get("catch_up", "all"), reads_children=reads_children)


# -- values -------------------------------------------------------------------------------------------


def stored_values(classifier, raw: dict, computed: dict) -> dict:
    """A record's typed values for evaluating conditions, read from what is stored (no reclassification):
    its fields coerced, its formulas and classifications as last computed."""
    values = classifier.coerce(raw, problems=[])
    ctx = Context(classifier.bundle.tz)
    for key, f in classifier.object.fields.items():
        if f.formula is not None and computed.get(key) is not None:
            try:
                values[key] = TYPES[f.type].coerce(computed[key], f.spec, ctx)
            except (ValueError, TypeError, ArithmeticError):
                values[key] = None
    for c in classifier.classifications:
        values[c.key] = computed.get(c.key)
    return values


def activity_instant(bundle, value) -> datetime | None:
    """An activity's time as an aware instant: a date counts from local midnight; unreadable is None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=bundle.tz)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=bundle.tz)
    text = str(value)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=bundle.tz)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=bundle.tz)


# -- due times ------------------------------------------------------------------------------------------


def cadence_of(bundle, policy: Policy, values: dict, as_of: datetime) -> Cadence | None:
    """The first cadence entry whose `when` holds for `values` at `as_of` (None: no follow-up is due)."""
    local = as_of.astimezone(bundle.tz)
    for entry in policy.cadence:
        if entry.holds(values, local.date(), local):
            return entry
    return None


def next_due(bundle, policy: Policy, values: dict, last_activity: datetime | None, created_at: datetime,
             as_of: datetime) -> datetime | None:
    """When the record's next follow-up is due (UTC), or None when no cadence entry holds."""
    entry = cadence_of(bundle, policy, values, as_of)
    if entry is None:
        return None
    return due_after(bundle, policy, last_activity or created_at, entry.every)


def due_after(bundle, policy: Policy, base: datetime, every: timedelta) -> datetime:
    """The due instant (UTC) `every` after `base`, placed in working time as the module docstring says."""
    tz = bundle.tz
    if every % _DAY == timedelta(0):
        day = base.astimezone(tz).date() + every
        if policy.working_days:
            day = bundle.calendar.next_workday(day)
        return datetime.combine(day, policy.start, tzinfo=tz).astimezone(UTC)
    instant = base + every
    if policy.working_days or policy.hours_given:
        instant = _into_working_time(bundle, policy, instant)
    return instant.astimezone(UTC)


def _into_working_time(bundle, policy: Policy, instant: datetime) -> datetime:
    """`instant` itself when it falls in working time, else the start of the next working time."""
    local = instant.astimezone(bundle.tz)
    day, clock = local.date(), local.time()
    for _ in range(400):
        if not policy.working_days or bundle.calendar.is_workday(day):
            if clock < policy.start:
                return datetime.combine(day, policy.start, tzinfo=bundle.tz)
            if clock < policy.end:
                return datetime.combine(day, clock, tzinfo=bundle.tz)
        day, clock = day + _DAY, time(0)
    return local


def reminder_times(bundle, policy: Policy, due: datetime) -> list[tuple[Reminder, datetime]]:
    """Each reminder of a due time with its instant (UTC), in the order they fire."""
    tz = bundle.tz
    local = due.astimezone(tz)
    out = []
    for r in policy.reminders:
        if r.at % _DAY == timedelta(0):
            day = local.date() + r.at
            if policy.working_days and r.at != timedelta(0) and not bundle.calendar.is_workday(day):
                day = bundle.calendar.next_workday(day) if r.at > timedelta(0) else bundle.calendar.add_workdays(day, -1)
            at = datetime.combine(day, local.time(), tzinfo=tz)
        else:
            at = due + r.at
        out.append((r, at.astimezone(UTC)))
    out.sort(key=lambda pair: (pair[1], pair[0].index))
    return out
