"""Saving a batch of new rows at once: the store's create pipeline, set-based.

`records.store.save` costs a flush, a duplicate query, a counter update and a
round of planners per record: tens of rows a second. A batch of new
top-level rows is stored here with what a row-by-row import would store,
in a handful of statements: every row validated by the engine in Python,
the duplicate keys of the whole batch looked up in one query (and against
the batch's own earlier rows), one counter update per autonumber field,
then executemany INSERTs of the records, their duplicate keys, audit rows
and classification history, and the workflows planned for the batch by the
bulk planners restricted to its ids. `created` automations still run per
record, through the same hook a single save uses, after the planners as in
a save.

Rows that `update` an existing record, and child rows (each recomputes its
parent), keep the row-by-row path: `save_many` sends them there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, defer

from engine import RecordInvalid, codecs
from engine.errors import FieldProblem

from ..models import AuditEntry, ClassificationChange, DuplicateKey, Record
from ..records import autonumber, duplicates
from ..records.store import _title, wire
from ..workflows import automations, schedule
from .rows import Outcome, Rows, _is_duplicate

_RECORD = Record.__table__


def save_many(rows: Rows, session: Session, chunk: list[tuple[int, list]], now: datetime) -> list[Outcome]:
    """The outcome of each row of `chunk` ((file row, cells) in file order), as `Rows.save` row by row gives."""
    values = [rows.values(cells)[0] for _number, cells in chunk]
    if rows.obj.parent is not None or rows.duplicates == "update" or any(
            k in rows.obj.children for v in values for k in v):
        return [rows.save(session, cells, now) for _number, cells in chunk]
    return _Batch(rows, session, now).run(values)


@dataclass
class _Row:
    index: int
    typed: dict
    result: object
    #: (field, normalised key, mode) of its unique fields
    keys: list


class _Batch:
    def __init__(self, rows: Rows, session: Session, now: datetime):
        self.rows, self.session, self.now = rows, session, now
        self.cur, self.bundle, self.obj, self.clf = rows.cur, rows.bundle, rows.obj, rows.clf
        self.classified = [c.key for c in self.bundle.classifications_of(self.obj.key)]

    def run(self, values: list[dict]) -> list[Outcome]:
        rows, words = self.rows, self.rows.words
        outcomes: list[Outcome | None] = [None] * len(values)
        valid = []
        for i, row_values in enumerate(values):
            try:
                valid.append(self._validate(i, row_values))
            except RecordInvalid as exc:
                outcomes[i] = Outcome("failed", rows.located(exc.problems))
        keys = {(f, k) for r in valid for f, k, _m in r.keys}
        stored = duplicates.stored_many(self.session, self.obj, keys)
        pending: list[_Row] = []
        taken: set = set()
        for row in valid:
            mine = {(f, k) for f, k, _m in row.keys}
            if mine & taken:  # it duplicates a row of this batch: store and plan those first, as row by row would,
                self._plan(self._insert(pending), pending)  # then check it against what they became
                stored = duplicates.stored_many(self.session, self.obj, keys)
                pending, taken = [], set()
            found = [(f, mode, stored[(f, k)]) for f, k, mode in row.keys if (f, k) in stored]
            try:
                warnings = duplicates.decide(self.bundle, self.obj, found,
                                             allow_duplicates=rows.duplicates == "new")
            except RecordInvalid as exc:
                if rows.duplicates != "new" and all(map(_is_duplicate, exc.problems)):
                    outcomes[row.index] = self._skipped(exc.problems)
                else:
                    outcomes[row.index] = Outcome("failed", rows.located(exc.problems))
                continue
            except duplicates.DuplicateFound as exc:
                outcomes[row.index] = self._skipped(exc.problems)
                continue
            outcomes[row.index] = Outcome("imported", [(c, words["new_anyway"].format(message=m))
                                                       for c, m in rows.located(warnings)])
            pending.append(row)
            taken |= mine
        self._plan(self._insert(pending), pending)
        return outcomes

    def _skipped(self, problems: list) -> Outcome:
        fmt = self.rows.words["skipped"]
        return Outcome("skipped", [(c, fmt.format(message=m)) for c, m in self.rows.located(problems)])

    def _validate(self, index: int, values: dict) -> _Row:
        """The engine's validation of a new record with `values`, as `store.save` does it (raises RecordInvalid)."""
        obj, clf = self.obj, self.clf
        unknown = [k for k in values if k not in obj.fields]
        if unknown:
            raise RecordInvalid([FieldProblem(k, clf.message("unknown_field", key=k)) for k in unknown])
        raw = {"id": None, "owner": self.rows.owner, "created_at": self.now, "updated_at": self.now,
               **{k: [] for k in obj.children}}
        raw.update(clf.with_defaults(dict(values), self.now, None))
        typed, result = clf.validate(raw, self.now, None)
        return _Row(index, typed, result, duplicates.keys_of(obj, typed))

    def _insert(self, batch: list[_Row]) -> list[int]:
        """Write the accepted rows: records, duplicate keys, audit and history; their ids, in order."""
        if not batch:
            return []
        session, obj, now, actor = self.session, self.obj, self.now, self.rows.actor
        owner = self.rows.owner
        datas = [wire({k: r.typed[k] for k in obj.fields if obj.fields[k].formula is None}) for r in batch]
        for data, numbers in zip(datas, autonumber.assign_many(session, self.bundle, obj, datas, now)):
            data.update(numbers)
        records = []
        for row, data in zip(batch, datas):
            records.append({
                "object": obj.key, "parent_id": None, "owner": owner, "owned_since": None if owner is None else now,
                "title": _title(obj, data), "data": data, "computed": wire(row.result.values),
                "explain": codecs.to_json(row.result.explain()), "bundle_version": self.cur.version,
                "created_at": now, "updated_at": now, "created_by": actor, "updated_by": actor, "version": 1})
        session.flush()
        ids = list(session.scalars(insert(_RECORD).returning(_RECORD.c.id, sort_by_parameter_order=True), records))
        keys, audit, history = [], [], []
        for rid, row, record in zip(ids, batch, records):
            keys += [{"record_id": rid, "object": obj.key, "field": field_key, "value": key}
                     for field_key, key, _mode in row.keys]
            audit.append({"record_id": rid, "object": obj.key, "at": now, "actor": actor, "action": "create",
                          "changes": {k: [None, v] for k, v in record["data"].items() if v is not None}})
            computed, explain = record["computed"], record["explain"]
            history += [{"record_id": rid, "key": key, "old": None, "new": computed.get(key), "at": now,
                         "cause": "saved", "explain": explain.get(key, {}), "bundle_version": self.cur.version}
                        for key in self.classified if computed.get(key) is not None]
        for model, rows in ((DuplicateKey, keys), (AuditEntry, audit), (ClassificationChange, history)):
            if rows:
                session.execute(insert(model.__table__), rows)
        for row, rid in zip(batch, ids):
            row.typed["id"] = str(rid)
        return ids

    def _plan(self, ids: list[int], batch: list[_Row]):
        """The workflows of the new records: `created` automations one by one, then every bulk planner for
        the batch's ids (their date automations included). The order is the save's: automations run first,
        so what they change (an owner assigned, a value set) is what the follow-up, pool and time planners
        see."""
        if not ids:
            return
        session, cur, now = self.session, self.cur, self.now
        if automations.automations(self.bundle, self.obj.key, "created"):
            self._created(ids, batch)
        schedule.after_bulk_insert(session, cur, ids, now)

    def _created(self, ids: list[int], batch: list[_Row]):
        session, cur, now = self.session, self.cur, self.now
        typed = {row.typed["id"]: row for row in batch}
        for record in session.scalars(select(Record).options(defer(Record.explain))
                                      .where(Record.id.in_(ids)).order_by(Record.id)).all():
            row = typed[str(record.id)]
            change = schedule.Change(record, record.id, "created", now, self.rows.actor, {}, {}, None)
            ident = {"id": str(record.id)}
            change.remember({**row.typed, **ident}, {**row.result.record_with_values(), **ident})
            automations.run_created(session, cur, change)
