"""The numbers behind each dashboard chart, each one SQL aggregate run in the database (SQLite or PostgreSQL).

Nothing here walks records in Python: every function sends one or two
GROUP BY queries and folds their few result rows. `owners` is the scope
(`auth.scope.owners_visible_to`, narrowed to a team): None for everyone,
else the usernames whose records count.

Current values are counted from an index alone: on SQLite the expression
indexes over the JSON (a covering index there), on PostgreSQL the narrow
`record_values` table (dashboards.values), as PostgreSQL reads the row
behind every entry of an expression index.

Past values come from the classification history. The value of a record on
a date is its newest history row at or before the end of that day; a record
with no such row was not there (or not classified) yet. The store writes a
history row for every change of a classification, creation included, each
row's `old` being the `new` of the row written before it, and the newest
row's `new` being the record's current value. So instead of finding the
newest row per record at each date (a sort of the whole history), the value
counts at a time T are the current counts (one walk of an index) minus the
changes made after T, added up per hour and kind of change from
`history_hours` (dashboards.changes); an hour that T splits is read from
the history's covering (key, at, ...) index (migration 0007).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import (ARRAY, bindparam, case, cast, func, literal, literal_column, select, text, true,
                        union_all)
from sqlalchemy.orm import Session

from ..bundles.indexes import value_sql
from ..models import ClassificationChange, HistoryHour, Record, RecordValue, UtcDateTime
from . import changes, values

H = ClassificationChange.__table__
R = Record.__table__
V = RecordValue.__table__
C = HistoryHour.__table__


def normal(value) -> str | None:
    """One spelling per value, whichever database and JSON path produced it (1, 1.0 and '1' are the same)."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is(column, key: str):
    """`column = 'key'` with the key written into the SQL: the per-object partial indexes (`WHERE object = '…'`)
    then serve the query, as a covering index on SQLite, which a bound parameter would prevent."""
    if not (key.replace("_", "").isalnum() and key.isascii()):
        raise ValueError(f"not a key: {key!r}")
    return column == literal_column(f"'{key}'")


def _scoped(stmt, owners: list[str] | None, table=R):
    return stmt if owners is None else stmt.where(table.c.owner.in_(owners))


def _rank(past, bounds: list, lo: int = 0, hi: int | None = None):
    """How many of the ascending `bounds` a row is past (`past(bound)` is the SQL test), as a balanced tree of
    CASEs: log2(n) comparisons a row rather than n, for a year of weekly or ten years of monthly periods."""
    hi = len(bounds) if hi is None else hi
    if lo == hi:
        return literal_column(str(lo))
    mid = (lo + hi) // 2
    return case((past(bounds[mid]), _rank(past, bounds, mid + 1, hi)), else_=_rank(past, bounds, lo, mid))


# -- counts of the current values -------------------------------------------------------------------------------


def counts(session: Session, obj: str, key: str, owners: list[str] | None, *, column: str = "computed") -> dict:
    """value -> number of `obj` records with it now; `column` "computed" for a classification, "data" for a field.

    A walk of one index: on SQLite the classification's (or field's)
    expression index, on PostgreSQL that of `record_values`, which holds
    every classification and the fields `values.sync` copied (any other
    field is read from `records`). The answer is kept for the rest of the
    session (a request), where three charts start from it.
    """
    memo = session.info.setdefault("dashboard_counts", {})  # the page's three history charts start from these
    known = memo.get((obj, key, None if owners is None else tuple(owners), column))
    if known is not None:
        return dict(known)
    dialect = session.get_bind().dialect.name
    if _on_postgresql(session) and (column == "computed" or values.tracked(session, obj, key)):
        # the narrow table's covering index (dashboards.values): no row of `records` is read
        stmt = _scoped(select(V.c.value, func.count()).where(_is(V.c.object, obj), _is(V.c.key, key)), owners, V) \
            .group_by(V.c.value)
    else:
        value = literal_column(value_sql(dialect, key, column=column))
        stmt = _scoped(select(value, func.count()).select_from(R).where(_is(R.c.object, obj)), owners) \
            .group_by(value)
    out: dict = {}
    for v, n in session.execute(stmt):
        out[normal(v)] = out.get(normal(v), 0) + n
    memo[(obj, key, None if owners is None else tuple(owners), column)] = dict(out)
    return out


# -- the history: changes after a time, first and last change between two times ---------------------------------


def _changes(obj: str, key: str, owners: list[str] | None, shared: bool, pg: bool = False):
    """The history rows of classification `key` of `obj` records in scope (a select to add columns to).

    The key alone picks the rows (no join) unless a scope applies or another
    object has a classification of the same key (`shared`).
    """
    stmt = select().select_from(H).where(H.c.key == key)
    if owners is not None or shared:  # the ids in scope, gathered once (on PostgreSQL from the narrow table,
        # whose rows are short, rather than from the wide rows of `records`): the history's covering index
        # answers the rest, where a join would read every changed record's row
        # (`record_id + 0`: the time range leads, not a seek per record in scope)
        scope = _scoped(select(V.c.record_id).where(_is(V.c.object, obj), _is(V.c.key, key)), owners, V) if pg \
            else _scoped(select(R.c.id).where(_is(R.c.object, obj)), owners)
        stmt = stmt.where((H.c.record_id + 0).in_(scope))
    return stmt


def shared(bundle, obj: str, key: str) -> bool:
    """Whether another object of the bundle has a classification with this key (its history shares the key)."""
    return any(c.key == key and c.object != obj for c in bundle.classifications)


def _deltas(session: Session, obj: str, key: str, owners, after: datetime, bounds: list[datetime] | None = None,
            shared: bool = False):
    """{bucket: {value: change in count}} from the changes after `after` (bucketed by `bounds`; one bucket if None).

    The whole UTC hours are summed from `history_hours` (dashboards.changes),
    a row per hour and kind of change (for everyone, the rows counting every
    owner together; for a scope, its owners' rows); only an hour that `after`
    or a bound splits is read from the history itself (`_history_deltas`).
    """
    pg = _on_postgresql(session)
    split = changes.edges(after, bounds or [])
    stmt = select(C.c.old, C.c.new, func.sum(C.c.n)).where(
        _is(C.c.object, obj), _is(C.c.key, key), C.c.hour_end > after,
        C.c.owner == changes.EVERYONE if owners is None else C.c.owner.in_(owners))
    if split:
        stmt = stmt.where(C.c.hour_end.not_in([hi for _lo, hi in split]))
    decoded: dict = {}  # the few kinds of change, each decoded once

    def value(stored: str):
        if stored not in decoded:
            decoded[stored] = json.loads(stored)
        return decoded[stored]

    out: dict[int, dict] = {}
    # PostgreSQL appends a kind's counts as several signed rows (dashboards.changes): they are summed here, and a
    # kind whose rows cancel out (sum 0) is left out. PostgreSQL sums a bigint as numeric.
    hours = session.execute(_bucketed(stmt, C.c.hour_end, bounds, pg))
    _fold(((value(o), value(n), int(count), *b) for o, n, count, *b in hours if count), out)
    if split:
        _fold(session.execute(_history_deltas(obj, key, owners, after, bounds, shared, pg, split)), out)
    return out


def _history_deltas(obj: str, key: str, owners, after: datetime, bounds: list[datetime] | None, shared: bool,
                    pg: bool, hours: list[tuple[datetime, datetime]] | None = None):
    """The changes after `after` from the history rows themselves, only those in `hours` ((lo, hi] ranges) if
    given: (old, new, count[, bucket]) grouped by the JSON of `old` and `new` as stored (cheaper than
    extracting every row's value); the few groups are decoded by the caller."""
    stmt = _changes(obj, key, owners, shared, pg).add_columns(H.c.old, H.c.new, func.count()).where(H.c.at > after)
    if hours:  # a VALUES list joined: one range of the (key, at, ...) index each
        ranges = [select(literal(lo, UtcDateTime()).label("lo"), literal(hi, UtcDateTime()).label("hi"))
                  for lo, hi in hours]
        ranges = (union_all(*ranges) if len(ranges) > 1 else ranges[0]).cte("hours")
        stmt = stmt.where(H.c.at > ranges.c.lo, H.c.at <= ranges.c.hi)
    return _bucketed(stmt, H.c.at, bounds, pg)


def _bucketed(stmt, at, bounds: list[datetime] | None, pg: bool):
    """`stmt` grouped by its old and new values and, given `bounds`, by how many of them `at` is after."""
    old, new = stmt.selected_columns[0], stmt.selected_columns[1]
    if bounds and pg:  # one binary search a row; `at > bound` is `at - 1 µs >= bound` (timestamps are in µs)
        bucket = func.width_bucket(at - literal_column("interval '1 microsecond'"),
                                   cast(bindparam("bounds", bounds, type_=ARRAY(UtcDateTime())), ARRAY(UtcDateTime())))
    elif bounds:
        bucket = _rank(lambda b: at > b, bounds)  # 0 up to bounds[0], i after bounds[i-1] up to bounds[i]
    else:
        return stmt.group_by(old, new)
    return stmt.add_columns(bucket).group_by(bucket, old, new)


def _fold(rows, out: dict[int, dict]):
    """Add (old, new, count[, bucket]) rows to {bucket: {value: change in count}}."""
    for o, n, count, *b in rows:
        b = b[0] if b else 0
        o, n = normal(o), normal(n)
        if o == n:
            continue
        per = out.setdefault(b, {})
        per[o] = per.get(o, 0) - count
        per[n] = per.get(n, 0) + count


def _on_postgresql(session: Session) -> bool:
    """Whether the database is PostgreSQL; if so, for this transaction, no JIT compilation (it takes longer to
    compile these aggregates, about 200 ms, than to run them) and room to group a window's records in memory
    (the default 4 MB spills a 90-day window's 140,000 records to disk)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(text("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"))
    return True


def counts_at(session: Session, obj: str, key: str, owners, at: datetime, shared: bool = False) -> dict:
    """value -> number of records that had it at `at` (None: records not there or not classified are left out)."""
    now_counts = counts(session, obj, key, owners)
    later = _deltas(session, obj, key, owners, at, shared=shared).get(0, {})
    out = {v: now_counts.get(v, 0) - later.get(v, 0) for v in set(now_counts) | set(later)}
    return {v: n for v, n in out.items() if v is not None and n}


@dataclass
class Migration:
    """Records by their value on the first date (rows) and on the second (columns); None: not there / unclassified."""

    #: (value then, value later) -> records
    cells: dict


def migration(session: Session, obj: str, key: str, owners, first: datetime, second: datetime,
              shared: bool = False) -> Migration:
    """The tier migration (流动) matrix between the instants `first` < `second`.

    Records that changed between them are paired from their first and last
    change in the window (`_pairs`): the first's `old` is the value at
    `first`, the last's `new` the value at `second`. The others kept their
    value at `first`, which lands on the diagonal.
    """
    pg = _on_postgresql(session)
    cells: dict = {}
    left: dict = {}
    arrived: dict = {}
    for (before, after), n in _pairs(session, obj, key, owners, first, second, shared, pg).items():
        left[before] = left.get(before, 0) + n
        arrived[after] = arrived.get(after, 0) + n
        if before is None and after is None:
            continue
        cells[(before, after)] = cells.get((before, after), 0) + n
    # The counts at `first` are those at `second` with the window's moves undone: only the changes after
    # `second` (few, for a window ending today) are read again, not the whole window's.
    at_second = counts_at(session, obj, key, owners, second, shared)
    for v in set(at_second) | set(left) | set(arrived):
        if v is None:
            continue
        stayed = at_second.get(v, 0) - arrived.get(v, 0)
        if stayed:
            cells[(v, v)] = cells.get((v, v), 0) + stayed
    return Migration(cells)


def _pairs(session: Session, obj: str, key: str, owners, first: datetime, second: datetime, shared: bool,
           pg: bool) -> Counter:
    """(value at `first`, value at `second`) -> records in scope, of the records that changed in between.

    Each history row knows the instants of its record's previous and next
    change of the key (`prev_at`, `next_at`; migration 0013) and what the
    previous change was (`prev_old`, `prev_new`, `prev_prev_at`; migration
    0018). A record that changed once in the window is one row whose
    neighbours are both outside it: its (old, new) is the pair. Those are
    most of the window's rows, and they are never read: the window's changes
    of each kind in scope are summed from `history_hours` (`_window_kinds`),
    and only the records that changed more than once are corrected, from the
    rows whose previous change is in the window (`later`, a partial index of
    migration 0018). Each such row is taken out of the sum; the one after a
    record's first change in the window (its change before the previous is
    outside it: `started`) carries that first change, which is taken out
    too, and, when it is also the record's last change in the window, gives
    the pair (its `prev_old`, its `new`). The records that changed three
    times or more have their last row paired with their `started` row by
    record id, a join run only when there are any. Measured at a million
    customers against pairing the window's rows by record: PostgreSQL a year
    187 ms against 421, 90 days 49 against 120; SQLite a year 132 against 477
    (then from two partial indexes, read and joined)."""
    started = (H.c.prev_prev_at.is_(None) | (H.c.prev_prev_at <= first)).label("started")
    last = (H.c.next_at.is_(None) | (H.c.next_at > second)).label("last")
    later = _changes(obj, key, owners, shared, pg).where(H.c.prev_at.is_not(None), H.c.prev_at > first,
                                                          H.c.prev_at <= second, H.c.at <= second)
    kinds = later.add_columns(H.c.old, H.c.new, H.c.prev_old, H.c.prev_new, started, last, func.count()) \
        .group_by(H.c.old, H.c.new, H.c.prev_old, H.c.prev_new, started, last)
    out = _window_kinds(session, obj, key, owners, first, second, shared, pg)
    deeper = 0
    for old, new, prev_old, prev_new, is_started, is_last, n in session.execute(kinds):
        out[(normal(old), normal(new))] -= n
        if is_started:
            out[(normal(prev_old), normal(prev_new))] -= n
            if is_last:
                out[(normal(prev_old), normal(new))] += n
        elif is_last:
            deeper += n
    if deeper:
        rows = later.add_columns(H.c.record_id, H.c.prev_old, H.c.new, started, last).cte("later")
        second_rows, last_rows = rows.alias("s"), rows.alias("l")
        joined = select(second_rows.c.prev_old, last_rows.c.new, func.count()).select_from(last_rows) \
            .join(second_rows, second_rows.c.record_id == last_rows.c.record_id) \
            .where(last_rows.c.last, ~last_rows.c.started, second_rows.c.started) \
            .group_by(second_rows.c.prev_old, last_rows.c.new)
        for old, new, n in session.execute(joined):
            out[(normal(old), normal(new))] += n
    return Counter({pair: n for pair, n in out.items() if n})


def _window_kinds(session: Session, obj: str, key: str, owners, first: datetime, second: datetime, shared: bool,
                  pg: bool) -> Counter:
    """(old, new) -> changes in (first, second] in scope: whole UTC hours from `history_hours` (for everyone its
    rows counting every owner together, for a scope its owners' rows), an hour that `first` or `second` splits
    from the history itself."""
    split = changes.edges(first, [second])
    stmt = select(C.c.old, C.c.new, func.sum(C.c.n)).where(
        _is(C.c.object, obj), _is(C.c.key, key), C.c.hour_end > first, C.c.hour_end <= second,
        C.c.owner == changes.EVERYONE if owners is None else C.c.owner.in_(owners))
    if split:
        stmt = stmt.where(C.c.hour_end.not_in([hi for _lo, hi in split]))
    out: Counter = Counter()
    for old, new, n in session.execute(stmt.group_by(C.c.old, C.c.new)):
        out[(normal(json.loads(old)), normal(json.loads(new)))] += int(n)
    for lo, hi in split:
        rows = _changes(obj, key, owners, shared, pg).add_columns(H.c.old, H.c.new, func.count()) \
            .where(H.c.at > lo, H.c.at <= min(hi, second))
        for old, new, n in session.execute(rows.group_by(H.c.old, H.c.new)):
            out[(normal(old), normal(new))] += n
    return out


def trend(session: Session, obj: str, key: str, owners, points: list[datetime], shared: bool = False) -> list[dict]:
    """For each instant of `points` (ascending): value -> number of records that had it then."""
    now_counts = counts(session, obj, key, owners)
    deltas = _deltas(session, obj, key, owners, points[0], points[1:], shared)
    out = []
    running = dict(now_counts)
    # walking back from now: bucket i holds the changes after points[i] (up to points[i+1], or now for the last)
    for i in range(len(points) - 1, -1, -1):
        for v, d in deltas.get(i, {}).items():
            running[v] = running.get(v, 0) - d
        out.append({v: n for v, n in running.items() if v is not None and n})
    return out[::-1]


# -- follow-ups ------------------------------------------------------------------------------------------------------


def overdue(session: Session, owners, now: datetime) -> dict[str, int]:
    """owner -> records whose next follow-up was due before `now` (the (owner, followup_due_at) index)."""
    _on_postgresql(session)  # for its settings: no JIT for this aggregate either
    stmt = _scoped(select(R.c.owner, func.count()).where(R.c.followup_due_at < now, R.c.owner.is_not(None)), owners)
    return dict(session.execute(stmt.group_by(R.c.owner)).all())


def activity(session: Session, child: str, time_field: str, time_type: str, owners, bounds: list, tz: ZoneInfo) -> list:
    """Activities (`child` records) per period: bounds are the periods' starts and the end of the last, ascending.

    The time is the activity's `time_field` (a date or datetime field, or
    `created_at`); the scope is the parent's owner. Returns one count per period.
    """
    c, p = R.alias("c"), R.alias("p")
    out = [0] * (len(bounds) - 1)
    if time_field == "created_at":  # no index on it: one walk of the activities, each put in its period
        at = c.c.created_at
        bucket = _rank(lambda e: at >= e, bounds[1:-1])  # period i holds bounds[i] <= at < bounds[i+1]
        stmt = select(bucket, func.count()).select_from(c).where(_is(c.c.object, child), at >= bounds[0],
                                                                 at < bounds[-1])
        if owners is not None:
            stmt = stmt.join(p, p.c.id == c.c.parent_id).where(p.c.owner.in_(owners))
        for b, n in session.execute(stmt.group_by(bucket)):
            out[b] += n
        return out
    if _on_postgresql(session) and values.tracked(session, child, time_field):
        # the narrow table's rows of the activities carry their parent's owner (dashboards.values): each
        # period is a range of its covering index, scoped or not
        periods = _periods(bounds, time_type, tz)
        stmt = select(periods.c.i, func.count()).select_from(periods.join(V, true())) \
            .where(_is(V.c.object, child), _is(V.c.key, time_field), V.c.value >= periods.c.lo, V.c.value < periods.c.hi)
        for b, n in session.execute(_scoped(stmt, owners, V).group_by(periods.c.i)):
            out[b] += n
        return out
    # A field: its (value, parent_id) index (dashboards.indexes) counts each period's range without reading
    # a row, the periods joined as a VALUES list; the parents in scope are gathered once.
    at = literal_column(value_sql(session.get_bind().dialect.name, time_field, column="data", table="c."))
    periods = _periods(bounds, time_type, tz)
    stmt = select(periods.c.i, func.count()).select_from(periods.join(c, true())) \
        .where(_is(c.c.object, child), at >= periods.c.lo, at < periods.c.hi)
    if owners is not None:  # `parent_id + 0`: walk the range, not every activity of the parents in scope
        stmt = stmt.where((c.c.parent_id + 0).in_(select(p.c.id).where(p.c.owner.in_(owners))))
    for b, n in session.execute(stmt.group_by(periods.c.i)):
        out[b] += n
    return out


def _periods(bounds: list, time_type: str, tz: ZoneInfo):
    """The periods as a VALUES list (i, lo, hi) of stored values: ISO text, datetimes in UTC (engine.fields),
    so text order is time order."""
    edges = [b.astimezone(tz).date().isoformat() if time_type == "date" else
             b.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00") for b in bounds]
    return union_all(*[select(literal(i).label("i"), literal(lo).label("lo"), literal(hi).label("hi"))
                       for i, (lo, hi) in enumerate(zip(edges, edges[1:]))]).cte("periods")
