"""What a bundle would change before it is published: counts, transitions and examples (issue #6).

The designer shows, per classification, how many records have each value
now and would have under the new rules, how many move from which value to
which, and a few of those records with the explanation they would get. The
new values are computed in the database with the same SQL as a publish
(`bulk.compile_object`, values only): one SELECT streams each record's
stored and new values and they are counted as they come (a large object a
range of ids at a time, which helper processes may count side by side);
explanations are computed only for the few sample records. Nothing is written. "Now" is the
stored value (what lists and reports show today). An object SQL cannot
express is computed in Python, record by record, and says so.
"""
from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal
from functools import partial
from itertools import repeat

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine import Bundle, codecs
from engine.explain import describe
from engine.expr.sqlgen import Unsupported

from ..models import Record
from ..records.store import children_of_many, raw_of
from . import bulk, parallel
from .bulk import compile_object, extent, id_ranges, tuned
from .workspace import Current

BATCH = 500
#: records between two reports of `preview`'s progress
STEP = 1000


def preview(session: Session, current: Current | None, new_bundle: Bundle, now: datetime, samples: int = 5,
            progress: Callable[[int, int], None] | None = None, helpers: int = 0) -> dict:
    """The impact of publishing `new_bundle` at `now` on every stored top-level record.

    Returns (JSON-serialisable)::

        {"records": 1234,                         # top-level records looked at
         "objects": {"customer": {
             "records": 1200,
             "path": "sql" | "python", "reason": None | "why SQL could not",
             "classifications": {"tier": {
                 "label": "客户等级",
                 "status": "changed" | "added" | "removed",   # added/removed: only in the new/current bundle
                 "before": [{"value": "A", "count": 10}, ...],  # stored values now (None: empty or absent)
                 "after": [{"value": "A", "count": 12}, ...],   # under the new bundle
                 "moved": 5,                                    # records whose value changes
                 "transitions": [                               # the matrix, one entry per (old, new) pair
                     {"old": "B", "new": "A", "count": 2,
                      "samples": [{"id": 7, "title": "甲公司",  # up to `samples`, lowest ids first
                                   "explain": {...},             # the new Result.explain() entry
                                   "sentence": "A：命中规则 1「…」；…"}]}]}}}}}

    Values are as stored in JSON (a collect classification's value is a list). `progress(done, total)` is
    called as records are counted (every `STEP`), for a page that shows how far the preview is.

    An object of more than `bulk.CHUNK` records is counted in id ranges. `helpers`: processes that count
    the ranges of an object of more than `parallel.FEW` records beside this connection, as a publish's
    reclassification computes its chunks (bundles.parallel); they read what is committed as they go, which
    a preview, writing nothing, may (a record saved meanwhile is counted as saved or not, as a later
    preview would count it).
    """
    dialect = session.get_bind().dialect.name
    out = {"records": 0, "objects": {}}
    tops = [key for key, obj in new_bundle.objects.items() if obj.parent is None]
    count = _Count(progress, session.scalar(select(func.count()).select_from(Record).where(Record.object.in_(tops)))
                   if progress else 0)
    for key in tops:
        old = {c.key: c for c in (current.bundle.classifications_of(key) if current and key in current.bundle.objects
                                  else [])}
        new = {c.key: c for c in new_bundle.classifications_of(key)}
        keys = list(new) + [k for k in old if k not in new]
        lists = {k for k in keys if (new.get(k) or old[k]).type.startswith("list:")}
        try:
            plan = compile_object(new_bundle, key, dialect, now, where="{col} IS NOT NULL", explain=None,
                                  was=tuple(keys))
        except Unsupported as exc:
            entry = _python(session, new_bundle, key, keys, now, samples, count)
            entry["reason"] = f"SQL cannot express {exc.what} (column {exc.column})"
        else:
            try:
                with tuned(session):
                    entry = _sql(session, new_bundle, key, keys, lists, plan, dialect, now, samples, count,
                                 helpers)
            except DBAPIError as exc:  # as a publish does: this object in Python, and why
                count.rewind()
                entry = _python(session, new_bundle, key, keys, now, samples, count)
                entry["reason"] = f"the database refused the SQL: {str(exc.orig).splitlines()[0]}"
        for k, rows in entry.pop("pairs").items():
            c = new.get(k) or old[k]
            entry["classifications"][k] = _summary(c.label, "changed" if k in new and k in old else
                                                   "added" if k in new else "removed", rows)
        out["objects"][key] = entry
        out["records"] += entry["records"]
        count.finished(entry["records"])
    return out


class _Count:
    """The records counted so far for `progress`, reported every `STEP` (an object computed in Python after
    its SQL failed is counted again from where that object began)."""

    def __init__(self, progress, total: int):
        self.progress, self.total = progress, total
        self.before = self.done = 0

    def add(self, n: int = 1):
        self.done += n
        if self.progress is not None and (self.done % STEP == 0 or n > 1):
            self.progress(self.done, max(self.total, self.done))

    def rewind(self):
        self.done = self.before

    def finished(self, records: int):
        self.before = self.done = self.before + records
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


def _summary(label: str, status: str, rows: list[tuple]) -> dict:
    """rows: (old, new, count, samples) per transition."""
    before: dict = {}
    after: dict = {}
    for old, new, count, _ in rows:
        before[_hashable(old)] = (old, before.get(_hashable(old), (None, 0))[1] + count)
        after[_hashable(new)] = (new, after.get(_hashable(new), (None, 0))[1] + count)

    def counts(d):
        return sorted(({"value": v, "count": n} for v, n in d.values()), key=lambda e: (-e["count"], str(e["value"])))

    transitions = sorted(({"old": o, "new": n, "count": c, "samples": s} for o, n, c, s in rows),
                         key=lambda e: (e["old"] == e["new"], -e["count"], str(e["old"]), str(e["new"])))
    return {"label": label, "status": status, "before": counts(before), "after": counts(after),
            "moved": sum(c for o, n, c, _ in rows if o != n), "transitions": transitions}


def _jsonable(value):
    """Stored JSON with exact decimals, as plain JSON values (whole numbers as ints)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return _plain(value)


def _hashable(value):
    return json.dumps(value, sort_keys=True, default=str)


def _plain(value):
    """A value read from a JSON column as the page shows it: whole numbers as ints, lists as lists."""
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        return codecs.to_json(value) if value == value.to_integral_value() else float(value)
    return value


# -- in SQL --------------------------------------------------------------------------------------


def _sql(session, bundle, key, keys, lists, plan, dialect, now, samples, count: _Count, helpers: int = 0) -> dict:
    pg = dialect == "postgresql"
    # One pass gives each record's stored (w<i>) and new (c_<key>) value per classification, counted here as it
    # streams: no temporary table, no query per classification. The stored values are carried up from the row
    # the plan reads (`compile_object(was=...)`), not looked up again by id: on PostgreSQL that look-up hashed
    # the whole records table (a fifth of the preview's time at 100,000 customers). Values are grouped as the
    # database returns them (hashable: jsonb as its text on PostgreSQL, a list as its JSON text on SQLite) and
    # decoded once per distinct pair. (Grouping the pairs in the database instead, with ROW_NUMBER() for the
    # samples, was slower on SQLite: its window sorts every record once per classification.)
    columns = [f"s.w{i} AS o{i}, {(f'CAST(s.c_{k} AS text)' if pg else f's.c_{k}') if k in plan.keys else 'NULL'} AS n{i}"
               for i, k in enumerate(keys)]
    head = f"SELECT {', '.join(['s.id'] + columns)} FROM "
    first, last, total = extent(session, key)
    if total <= bulk.CHUNK:
        records, seen = _tally(len(keys), samples, session.execute(text(f"{head}({plan.sql}) s"), plan.params),
                               count.add)
    else:  # in id ranges, as a publish computes them: one pass over a million customers took more than
        # twice as long (its aggregates' working sets outgrow memory); helpers count ranges ahead, merged here
        url = parallel.url_of(session) if helpers > 0 and total > parallel.FEW else None
        ranged = compile_object(bundle, key, dialect, now, explain=None, was=tuple(keys))
        sql = f"{head}({ranged.sql}) s"
        per = bulk.CHUNK if url is None else bulk.HELPED_CHUNK
        chunks = [{**ranged.params, "lo": lo, "hi": hi} for lo, hi in id_ranges(first, last, total, per)]
        records, seen = 0, [{} for _ in keys]
        with nullcontext() if url is None else parallel.Helpers(url, helpers, bulk.SETTINGS) as side:
            counted = repeat(None) if side is None else side.chunks(sql, chunks, partial(_tally, len(keys), samples))
            for params, part in zip(chunks, counted):
                if part is None:  # counted here, each record as it comes
                    part = _tally(len(keys), samples, session.execute(text(sql), params), count.add)
                else:
                    count.add(part[0])
                records += part[0]
                _merge(seen, part[1], samples)
    pairs, wanted = {}, {}
    for k, slot in zip(keys, seen):
        value = (lambda v: None if v is None else _plain(json.loads(v))) if pg or k in lists else _plain
        merged: dict = {}
        for (o, n), (count, heap) in slot.items():
            o, n = value(o), value(n)
            entry = merged.setdefault((_hashable(o), _hashable(n)), [o, n, 0, []])
            entry[2] += count
            entry[3] += [-i for i in heap]
        pairs[k] = []
        for o, n, count, ids in merged.values():
            picked = heapq.nsmallest(samples, ids)
            for rid in picked:
                wanted.setdefault(rid, []).append(k)
            pairs[k].append((o, n, count, picked))
    explained = _explain_samples(session, bundle, key, dialect, now, sorted(wanted))
    for k, rows in pairs.items():
        pairs[k] = [(o, n, c, [explained[rid](k) for rid in ids]) for o, n, c, ids in rows]
    return {"records": records, "path": "sql", "reason": None, "classifications": {}, "pairs": pairs}


def _tally(keys: int, samples: int, rows, tick: Callable[[], None] | None = None) -> tuple[int, list[dict]]:
    """(records, per classification {(stored, new): [records, the lowest `samples` ids as a max-heap of -id]})
    of rows (id, stored 0, new 0, stored 1, new 1, ...); `tick()` after each record."""
    seen: list[dict] = [{} for _ in range(keys)]
    records = 0
    for row in rows:
        records += 1
        if tick is not None:
            tick()
        rid = row[0]
        for i, slot in enumerate(seen):
            pair = (row[2 * i + 1], row[2 * i + 2])
            entry = slot.get(pair)
            if entry is None:
                entry = slot[pair] = [0, []]
            entry[0] += 1
            _keep(entry[1], rid, samples)
    return records, seen


def _keep(heap: list, rid: int, samples: int):
    """Keep `rid` among the lowest `samples` ids of `heap` (a max-heap of -id)."""
    if len(heap) < samples:
        heapq.heappush(heap, -rid)
    elif heap and -heap[0] > rid:
        heapq.heapreplace(heap, -rid)


def _merge(into: list[dict], part: list[dict], samples: int):
    """Add one chunk's `_tally` to another's."""
    for slot, counted in zip(into, part):
        for pair, (n, heap) in counted.items():
            entry = slot.setdefault(pair, [0, []])
            entry[0] += n
            for neg in heap:
                _keep(entry[1], -neg, samples)


def _explain_samples(session, bundle, key, dialect, now, ids: list[int]) -> dict:
    """id -> (classification key -> sample entry), the explanations computed in SQL for these records only."""
    if not ids:
        return {}
    plan = compile_object(bundle, key, dialect, now, where="{col} IN (" + ", ".join(str(int(i)) for i in ids) + ")")
    titles = dict(session.execute(select(Record.id, Record.title).where(Record.id.in_(ids))).all())
    clf = bundle.classifier(key)
    out = {}
    cast = "CAST(explain AS text)" if dialect == "postgresql" else "explain"
    for rid, explain in session.execute(text(f"SELECT id, {cast} FROM ({plan.sql}) s"), plan.params).all():
        out[rid] = _sample(rid, titles.get(rid), clf, codecs.loads(explain))
    return out


def _sample(rid, title, clf, explain: dict):
    sentences = describe(clf, explain)

    def entry(k):
        return {"id": rid, "title": title, "explain": _jsonable(explain.get(k)), "sentence": sentences.get(k)}
    return entry


# -- in Python (what SQL cannot express) ---------------------------------------------------------


def _python(session, bundle, key, keys, now, samples, count: _Count | None = None) -> dict:
    count = count or _Count(None, 0)
    clf = bundle.classifier(key)
    children = bundle.objects[key].children
    counts: dict = {}
    records, last = 0, 0
    while True:
        batch = session.execute(select(Record.id, Record.title, Record.data, Record.owner, Record.created_at,
                                       Record.updated_at, Record.computed)
                                .where(Record.object == key, Record.id > last).order_by(Record.id).limit(BATCH)).all()
        if not batch:
            break
        kids = children_of_many(session, [r.id for r in batch], children)
        for row in batch:
            stub = Record(id=row.id, data=row.data, owner=row.owner, created_at=row.created_at, updated_at=row.updated_at)
            result = clf.classify(clf.coerce(raw_of(stub, kids[row.id]), problems=[]), now)
            values = codecs.to_json(result.values)
            explain = None
            for k in keys:
                old, new = _plain((row.computed or {}).get(k)), _plain(values.get(k))
                slot = counts.setdefault(k, {}).setdefault((_hashable(old), _hashable(new)), [old, new, 0, []])
                slot[2] += 1
                if len(slot[3]) < samples:
                    explain = explain or codecs.to_json(result.explain(), bundle.tz)
                    slot[3].append(_sample(row.id, row.title, clf, explain)(k))
        records += len(batch)
        count.add(len(batch))
        last = batch[-1].id
        for rows in kids.values():
            for child_rows in rows.values():
                for child in child_rows:
                    session.expunge(child)
    pairs = {k: [tuple(v) for v in counts.get(k, {}).values()] for k in keys}
    return {"records": records, "path": "python", "reason": None, "classifications": {}, "pairs": pairs}
