"""Saving a batch of new rows at once: the store's create pipeline, set-based.

`records.store.save` costs a flush, a duplicate query, a counter update and a
round of planners per record: tens of rows a second. A batch of new
top-level rows is stored here with what a row-by-row import would store,
in a handful of statements. First `check`, which reads nothing but the rows
and the bundle (so that a helper process can run it a batch ahead:
`imports.ahead`): every row validated, classified and explained by the
engine, its duplicate keys normalised, and what of its planning its values
alone decide worked out (`imports.planned`). Then `save_many`: the
duplicate keys of the whole batch looked up in one query (and against the
batch's own earlier rows), one counter update per autonumber field, the
workflows planned by the bulk planners from the values in memory, then
multi-row INSERTs of the records, their duplicate keys, audit rows and
classification history (their JSON encoded once: `inserts`).

The records' ids are taken before the INSERT (`_new_ids`), so a batch is
decided in memory first, each record as a single save decides it: the
`created` automations whose actions can be held (`actions.HELD`: assign)
run on each new record in file order through the code a single save runs,
then the planners plan its firings and its follow-up due time, and the
records are written with their owners and due times. An object with a
`created` automation that cannot be held (it notifies, sets a value, ...)
has its records inserted first, their automations run per record through
the same hook a single save uses, and the planners read what they left.

Rows that `update` an existing record, and child rows (each recomputes its
parent), keep the row-by-row path: `save_many` sends them there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, defer

from engine import RecordInvalid, codecs
from engine.errors import FieldProblem

from ..models import AuditEntry, ClassificationChange, DuplicateKey, Record
from ..records import autonumber, duplicates
from ..records.store import _title, wire
from ..workflows import actions, automations, schedule
from .inserts import NULL, binder, insert_rows
from .rows import Outcome, Rows, _is_duplicate

_RECORD = Record.__table__


def batched(rows: Rows) -> bool:
    """Can this table's rows be saved a batch at a time? Not child rows (each recomputes its parent), nor
    rows that `update` the existing record they duplicate: those go row by row."""
    return rows.obj.parent is None and rows.duplicates != "update"


def check(rows: Rows, chunk: list[tuple[int, list]], now: datetime) -> list | None:
    """What the engine makes of each row of `chunk` as a new record at `now`, reading nothing but the rows
    and the bundle (so that a helper process can do it: `imports.ahead`): a `_Row` (typed, classified, its
    explanation encoded, its duplicate keys normalised) or the failed row's `Outcome`. None when the rows
    go row by row: not `batched`, or a row gives values to child records."""
    if not batched(rows):
        return None
    values = [rows.values(cells)[0] for _number, cells in chunk]
    if any(k in rows.obj.children for v in values for k in v):
        return None
    out = []
    foresight = rows.foresight
    for i, row_values in enumerate(values):
        try:
            row = _validate(rows, i, row_values, now)
        except RecordInvalid as exc:
            out.append(Outcome("failed", rows.located(exc.problems)))
            continue
        row.ahead = foresight.work_out(row.typed, row.values, now)
        out.append(row)
    return out


def save_many(rows: Rows, session: Session, chunk: list[tuple[int, list]], now: datetime,
              checked: list | None) -> list[Outcome]:
    """The outcome of each row of `chunk` ((file row, cells) in file order), as `Rows.save` row by row gives;
    `checked` is what `check` made of the chunk at `now`."""
    if checked is None:
        return [rows.save(session, cells, now) for _number, cells in chunk]
    return _Batch(rows, session, now).run(checked)


@dataclass
class _Row:
    """A valid row as `check` hands it on: plain values, since it may come from a helper process."""

    index: int
    typed: dict
    #: formula and classification values
    values: dict
    #: (field, normalised key, mode) of its unique fields
    keys: list
    #: classification key -> its explanation as JSON text
    explain: dict
    #: its fields and its computed values as stored (`store.wire`; autonumbers empty: assigned when written)
    data: dict
    computed: dict
    #: JSON texts to be written: `data`, `computed`, `audit` (the changes of the audit row) and `history` (each
    #: classification's value, of those with one); an autonumber's member in `data` is null, in `audit`
    #: `[null,null]`, until assigned
    encoded: dict
    #: what of its planning its values decide alone (`planned.Foresight`)
    ahead: dict = field(default_factory=dict)

    def full(self) -> dict:
        """The record with its computed values, as `Result.record_with_values` gives it."""
        return {**self.typed, **self.values}


def _validate(rows: Rows, index: int, values: dict, now: datetime) -> _Row:
    """The engine's validation of a new record with `values`, as `store.save` does it (raises RecordInvalid)."""
    obj, clf = rows.obj, rows.clf
    unknown = [k for k in values if k not in obj.fields]
    if unknown:
        raise RecordInvalid([FieldProblem(k, clf.message("unknown_field", key=k)) for k in unknown])
    raw = {"id": None, "owner": rows.owner, "created_at": now, "updated_at": now, **{k: [] for k in obj.children}}
    raw.update(clf.with_defaults(dict(values), now, None))
    typed, result = clf.validate(raw, now, None)
    explain = {key: codecs.dumps_typed(part) for key, part in result.explain().items()}
    values = result.values
    data, computed = wire({k: typed[k] for k in rows.stored}), wire(values)
    dumps = codecs.dumps_wire
    encoded = {"data": dumps(data), "computed": dumps(computed),
               "audit": dumps({k: [None, v] for k, v in data.items() if v is not None or k in rows.numbered}),
               # (an empty autonumber's member is there, `[null,null]`, for the number `_numbered` puts in)
               "history": {k: dumps(computed[k]) for k in rows.classified if computed.get(k) is not None}}
    return _Row(index, typed, values, duplicates.keys_of(obj, typed), explain, data, computed, encoded)


@dataclass(eq=False)
class _New:
    """A new record before its INSERT, with what automations and planners read of a stored one."""

    id: int
    object: str
    owner: str | None
    owned_since: datetime | None
    created_at: datetime
    updated_at: datetime
    #: what is stored: values in wire form, computed values
    data: dict
    computed: dict
    version: int = 1
    parent_id: None = None
    pool: str | None = None
    pool_since: datetime | None = None
    pool_reason: str | None = None
    followup_due_at: datetime | None = None


class _Batch:
    def __init__(self, rows: Rows, session: Session, now: datetime):
        self.rows, self.session, self.now = rows, session, now
        self.cur, self.bundle, self.obj, self.clf = rows.cur, rows.bundle, rows.obj, rows.clf
        #: the object's `created` automations (if any) run on the records before their INSERT
        self.held = automations.can_hold(self.bundle, self.obj.key)

    def run(self, checked: list) -> list[Outcome]:
        rows, words = self.rows, self.rows.words
        outcomes: list[Outcome | None] = [r if isinstance(r, Outcome) else None for r in checked]
        valid = [r for r in checked if isinstance(r, _Row)]
        keys = {(f, k) for r in valid for f, k, _m in r.keys}
        stored = duplicates.stored_many(self.session, self.obj, keys)
        pending: list[_Row] = []
        taken: set = set()
        for row in valid:
            mine = {(f, k) for f, k, _m in row.keys}
            if mine & taken:  # it duplicates a row of this batch: store those first, as row by row would,
                self._store(pending)  # then check it against what they became
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
        self._store(pending)
        return outcomes

    def _skipped(self, problems: list) -> Outcome:
        fmt = self.rows.words["skipped"]
        return Outcome("skipped", [(c, fmt.format(message=m)) for c, m in self.rows.located(problems)])

    def _store(self, batch: list[_Row]):
        """Write the accepted rows with their workflows, in the save's order: `created` automations first, so
        that what they change (an owner assigned, a value set) is what the follow-up, pool and time planners
        see. When the automations can be held (or there are none), everything is decided in memory before the
        INSERTs — owners, events, firings and the follow-up due time the records are inserted with; otherwise
        the records are inserted, their automations run one by one and the planners read what they left."""
        if not batch:
            return
        session, now = self.session, self.now
        changes = self._changes(batch)
        if not self.held:
            self._insert(changes, batch)
            schedule.plan_new(session, self.cur, self._created(changes, batch), now)
            return
        held = actions.Held(session)
        for change, row in zip(changes, batch):
            values = change.values(session, self.cur)
            automations.run_created(session, self.cur, change, held)
            held.lookups.decided(change.record)
            if change.record.version > 1:
                # assigned: a save's planners read the new owner, and the values as its automations left them
                change.remember({**row.typed, "id": str(change.record_id), "owner": change.record.owner}, values)
        schedule.plan_new(session, self.cur, changes, now)
        self._insert(changes, batch)
        held.write(session)

    def _changes(self, batch: list[_Row]) -> list[schedule.Change]:
        """Each row as the new record a save would make of it (ids taken, autonumbers assigned), with the
        values the save would hand its planners."""
        obj, now, owner = self.obj, self.now, self.rows.owner
        datas = [dict(r.data) for r in batch]
        for data, numbers in zip(datas, autonumber.assign_many(self.session, self.bundle, obj, datas, now)):
            data.update(numbers)
        changes = []
        for rid, row, data in zip(_new_ids(self.session, len(batch)), batch, datas):
            record = _New(rid, obj.key, owner, None if owner is None else now, now, now, data, row.computed)
            changes.append(self._change(record, row))
        return changes

    def _change(self, record, row: _Row, ahead: bool = True) -> schedule.Change:
        """The record's creation, with the values the save validated it with (and its id), as a save hands it
        to its planners."""
        change = schedule.Change(record, record.id, "created", self.now, self.rows.actor,
                                 stored=not isinstance(record, _New), ahead=row.ahead if ahead else {})
        ident = {"id": str(record.id)}
        change.remember({**row.typed, **ident}, {**row.full(), **ident})
        return change

    def _insert(self, changes: list[schedule.Change], batch: list[_Row]):
        """Write the records, their duplicate keys, audit and classification history: JSON encoded once per
        value (a history row's explanation is its part of the record's), the batch's one instant bound once."""
        session, obj, actor, version = self.session, self.obj, self.rows.actor, self.cur.version
        stamp = binder(session, _RECORD.c.created_at)
        at = stamp(self.now)  # every timestamp of a new record is `now` but its follow-up due time
        records, keys, audit, history = [], [], [], []
        for change, row in zip(changes, batch):
            new, rid = change.record, change.record_id
            explain, encoded = row.explain, row.encoded
            data, changed = self._numbered(row, new.data)
            records.append({
                "id": rid, "object": obj.key, "parent_id": None, "owner": new.owner,
                "owned_since": None if new.owned_since is None else at,
                "followup_due_at": stamp(new.followup_due_at),
                "title": _title(obj, new.data), "data": data, "computed": encoded["computed"],
                "explain": codecs.join_object(explain), "bundle_version": version, "created_at": at,
                "updated_at": at, "created_by": actor, "updated_by": actor, "version": new.version})
            keys += [{"record_id": rid, "object": obj.key, "field": field_key, "value": key}
                     for field_key, key, _mode in row.keys]
            audit.append({"record_id": rid, "object": obj.key, "at": at, "actor": actor, "action": "create",
                          "changes": changed})
            history += [{"record_id": rid, "key": key, "old": NULL, "new": encoded["history"][key], "at": at,
                         "cause": "saved", "explain": explain.get(key, "{}"), "bundle_version": version}
                        for key in encoded["history"]]
        insert_rows(session, _RECORD, records)
        for model, rows in ((DuplicateKey, keys), (AuditEntry, audit), (ClassificationChange, history)):
            insert_rows(session, model.__table__, rows)

    def _numbered(self, row: _Row, data: dict) -> tuple[str, str]:
        """The JSON of the record's values and of its audit row's changes, with the numbers given since the
        row was checked (`data`, what is stored, differs from the checked row's by those only: autonumber
        fields the row left empty, `autonumber.assign_many` fills) put in place of their empty members. A
        field key cannot be inside a JSON string quoted as it is here (quotes in strings are escaped), so the
        first `"key":null` is the member."""
        values, changes = row.encoded["data"], row.encoded["audit"]
        for key in self.rows.numbered:
            if row.data[key] is None:
                name, text = codecs.member(key, ""), codecs.dumps_wire(data[key])
                values = values.replace(name + "null", name + text, 1)
                changes = changes.replace(name + "[null,null]", f"{name}[null,{text}]", 1)
        return values, changes

    def _created(self, changes: list[schedule.Change], batch: list[_Row]) -> list[schedule.Change]:
        """Run the `created` automations that cannot be held on the inserted records in id order, one by one
        as a save does; the changes of the stored records, so that what they changed is what planners read."""
        session = self.session
        records = session.scalars(select(Record).options(defer(Record.explain))
                                  .where(Record.id.in_([c.record_id for c in changes])).order_by(Record.id)).all()
        changes = [self._change(record, row, ahead=False)  # their automations may change any value
                   for record, row in zip(records, batch)]
        for change in changes:
            automations.run_created(session, self.cur, change)
        return changes


def _new_ids(session: Session, n: int) -> list[int]:
    """Ids for `n` new records, taken before their INSERT so that automations and planners see them as a
    single save does: from the table's sequence on PostgreSQL; on SQLite the ids it would give the rows
    itself, one more than the largest (the import holds the write lock: `runner._begin`)."""
    if session.get_bind().dialect.name == "postgresql":
        return sorted(session.scalars(text("SELECT nextval(pg_get_serial_sequence('records', 'id')) "
                                           "FROM generate_series(1, :n)"), {"n": n}))
    last = session.scalar(select(func.max(Record.id))) or 0
    return list(range(last + 1, last + n + 1))
