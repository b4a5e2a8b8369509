"""Saving records: one pipeline for forms, the API and imports.

A save validates the values with the engine exactly as SPEC §2 says (types,
required, required_if, visible_if, duplicates), classifies the record with
its children, and writes in one transaction: the values, the computed
formulas and classifications with their explanation, a history row per
classification that changed, and an audit row of the fields that changed.
A child's save recomputes its parent the same way. Nothing is half-written:
any problem raises before the first write, and the caller's transaction
rolls back on anything else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import RecordInvalid, codecs
from engine.errors import FieldProblem

from ..bundles.workspace import Current
from ..models import AuditEntry, ClassificationChange, Record
from ..workflows.schedule import Change, after_change
from . import autonumber, duplicates


class StaleRecord(Exception):
    """The record changed since the caller read it (optimistic concurrency)."""

    def __init__(self, record: Record):
        self.record = record  # its attributes may be expired (a failed flush): read them after a rollback
        super().__init__("the record changed since it was read")


@dataclass
class Saved:
    record: Record
    #: duplicate warnings (mode: warn) that the save went on after
    warnings: list = field(default_factory=list)


def wire(values: dict) -> dict:
    """Typed values as stored in JSON columns: dates ISO, datetimes ISO in UTC, decimals exact."""
    return {k: codecs.to_json(v) for k, v in values.items()}


def raw_of(record: Record, children: dict[str, list[Record]] | None = None) -> dict:
    """The classifier's input for a stored record: its values, system attributes and children."""
    raw = dict(record.data or {})
    raw.update(id=str(record.id) if record.id is not None else None, owner=record.owner,
               created_at=record.created_at, updated_at=record.updated_at)
    for key, rows in (children or {}).items():
        raw[key] = [raw_of(row) for row in rows]
    return raw


def children_of(session: Session, record: Record, keys: list[str]) -> dict[str, list[Record]]:
    if not keys or record.id is None:
        return {k: [] for k in keys}
    return children_of_many(session, [record.id], keys)[record.id]


def children_of_many(session: Session, ids: list[int], keys: list[str], *,
                     plain: bool = False) -> dict[int, dict[str, list[Record]]]:
    """Children of many parents in one query (bulk reclassification reads a batch at a time); `plain`: as rows
    of what `raw_of` reads, not records (no ORM objects made, no computed values or explanations decoded: the
    planners after a publish read every child of the workspace)."""
    out: dict[int, dict[str, list[Record]]] = {i: {k: [] for k in keys} for i in ids}
    if not keys or not ids:
        return out
    if plain:
        r = Record.__table__
        rows = session.execute(select(r.c.id, r.c.parent_id, r.c.object, r.c.owner, r.c.data, r.c.created_at,
                                      r.c.updated_at).where(r.c.parent_id.in_(ids)).order_by(r.c.id))
    else:
        rows = session.scalars(select(Record).where(Record.parent_id.in_(ids)).order_by(Record.id)).all()
    for row in rows:
        bucket = out[row.parent_id]
        if row.object in bucket:
            bucket[row.object].append(row)
    return out


def save(session: Session, current: Current, actor: str | None, object_key: str, values: dict, *,
         record: Record | None = None, parent: Record | None = None, expected_version: int | None = None,
         allow_duplicates: bool = False, owner: str | None = None, now: datetime) -> Saved:
    """Create (`record` None) or update a record with `values` (field key -> raw value).

    Raises RecordInvalid (every problem, nothing written), StaleRecord, or
    duplicates.DuplicateFound (SPEC §2 warn mode, when not `allow_duplicates`).
    """
    bundle = current.bundle
    obj = bundle.objects[object_key]
    clf = bundle.classifier(object_key)
    creating = record is None
    if record is not None and expected_version is not None and record.version != expected_version:
        raise StaleRecord(record)
    unknown = [k for k in values if k not in obj.fields and not (creating and k in obj.children)]
    if unknown:
        raise RecordInvalid([FieldProblem(k, clf.message("unknown_field", key=k)) for k in unknown])
    if not creating:  # `readonly` fields are set on create (or by automations), never edited
        frozen = [k for k, f in obj.fields.items() if f.spec.get("readonly") is True and k in values
                  and codecs.to_json(values[k]) != record.data.get(k)]
        if frozen:
            raise RecordInvalid([FieldProblem(k, clf.message("readonly")) for k in frozen])
    new_children = {k: values[k] for k in obj.children if creating and values.get(k)}
    old_data = dict(record.data) if record is not None else {}
    old_owner = record.owner if record is not None else None
    merged = {**old_data, **{k: v for k, v in values.items() if k in obj.fields}}
    for key, f in obj.fields.items():  # an autonumber, once given, never changes
        if f.type == "autonumber" and key in old_data:
            merged[key] = old_data[key]
    parent_typed = None
    if obj.parent is not None:
        parent = parent or session.get(Record, record.parent_id)
        parent_typed = bundle.classifier(parent.object).coerce(raw_of(parent), problems=[])
    if creating:
        record = Record(object=object_key, created_at=now, created_by=actor, owner=None if obj.parent else owner,
                        owned_since=None if obj.parent or owner is None else now)
        if parent is not None:
            record.parent_id = parent.id
        merged = clf.with_defaults(merged, now, parent_typed)
    children = children_of(session, record, obj.children)
    raw = raw_of(record, children)
    raw.update(merged)
    raw.update(new_children)
    raw["updated_at"] = now
    typed, result = clf.validate(raw, now, parent_typed)
    warnings = duplicates.check(session, bundle, obj, typed, record.id, allow_duplicates=allow_duplicates)
    stored = wire({k: typed[k] for k in obj.fields if obj.fields[k].formula is None})
    stored.update({k: v for k, v in old_data.items() if k not in obj.fields})  # values of removed fields are kept
    if creating:
        stored.update(autonumber.assign(session, bundle, obj, stored, now))
    computed = wire(result.values)
    explain = codecs.to_json(result.explain())
    changes = {k: [old_data.get(k), v] for k, v in stored.items() if old_data.get(k) != v}
    record.data = stored
    record.computed, old_computed = computed, dict(record.computed or {})
    record.explain = explain
    record.title = _title(obj, stored)
    record.updated_at = now
    record.updated_by = actor
    record.bundle_version = current.version
    session.add(record)
    try:
        session.flush()
    except StaleDataError:  # another writer committed between our read and our write
        raise StaleRecord(record) from None
    duplicates.index(session, bundle, obj, typed, record)
    for key in new_children:
        _add_children(session, current, actor, record, key, typed[key], typed, now)
    _history(session, record, old_computed, computed, explain, "saved", current.version, now,
             keys=[c.key for c in bundle.classifications_of(object_key)])
    if changes or creating:
        session.add(AuditEntry(record_id=record.id, object=object_key, at=now, actor=actor,
                               action="create" if creating else "update",
                               changes={k: v for k, v in changes.items() if not (creating and v[1] is None)}))
    if obj.parent is None:
        change = Change(record, record.id, "created" if creating else "saved", now, actor, old_data, old_computed,
                        old_owner)
        ident = {"id": str(record.id)}
        change.remember({**typed, **ident}, {**result.record_with_values(), **ident})
        after_change(session, current, change)
    else:  # a new or edited activity moves the parent's follow-up even when no value of the parent changed
        _parent_changed(session, current, session.get(Record, record.parent_id), actor, now)
    return Saved(record, warnings)


def _parent_changed(session, current, parent: Record, actor, now):
    old = dict(parent.computed or {})
    recompute(session, current, parent, "saved", now, plan=False)
    after_change(session, current, Change(parent, parent.id, "saved", now, actor, dict(parent.data or {}), old,
                                          parent.owner))


def _add_children(session, current, actor, parent: Record, key: str, rows: list, parent_typed: dict, now):
    """Store the children given with a new record (validated with it, so nothing is recomputed per row)."""
    bundle = current.bundle
    child = bundle.objects[key]
    clf = bundle.classifier(key)
    for row in rows:
        result = clf.classify(row, now, parent_typed)
        data = wire({k: row[k] for k in child.fields if child.fields[k].formula is None})
        data.update(autonumber.assign(session, bundle, child, data, now))
        record = Record(object=key, parent_id=parent.id, data=data, computed=wire(result.values),
                        explain=codecs.to_json(result.explain()), title=_title(child, data), created_at=now,
                        updated_at=now, created_by=actor, updated_by=actor, bundle_version=current.version)
        session.add(record)
        session.flush()
        duplicates.index(session, bundle, child, row, record)
        session.add(AuditEntry(record_id=record.id, object=key, at=now, actor=actor, action="create",
                               changes={k: [None, v] for k, v in data.items() if v is not None}))


def delete_record(session: Session, current: Current, actor: str | None, record: Record, *, now: datetime,
                  expected_version: int | None = None):
    if expected_version is not None and record.version != expected_version:
        raise StaleRecord(record)
    parent_id, record_id = record.parent_id, record.id
    session.add(AuditEntry(record_id=record.id, object=record.object, at=now, actor=actor, action="delete",
                           changes={k: [v, None] for k, v in record.data.items() if v is not None}))
    session.execute(delete(Record).where(Record.parent_id == record.id))
    session.delete(record)
    session.flush()
    if parent_id is not None:
        _parent_changed(session, current, session.get(Record, parent_id), actor, now)
    else:
        after_change(session, current, Change(None, record_id, "deleted", now, actor))


def recompute(session: Session, current: Current, record: Record, cause: str, now: datetime,
              children: dict[str, list[Record]] | None = None, plan: bool = True) -> bool:
    """Reclassify a stored record (after a child changed, a publish, or time passing); True if anything changed.

    With `plan`, a change re-plans the record's workflows in this transaction;
    bulk callers pass False and plan everything at once afterwards.

    Values that no longer fit their field (a field retyped by a publish) are
    kept as stored and count as empty for the computation.
    """
    bundle = current.bundle
    if record.object not in bundle.objects:
        return False
    obj = bundle.objects[record.object]
    clf = bundle.classifier(record.object)
    if children is None:
        children = children_of(session, record, obj.children)
    problems: list = []
    typed = clf.coerce(raw_of(record, children), problems=problems)
    result = clf.classify(typed, now)
    computed = wire(result.values)
    explain = codecs.to_json(result.explain())
    if computed == record.computed and explain == record.explain:  # unchanged: its row, version and
        return False  # bundle_version (the rules that last changed it) stay, as on the SQL path
    old = dict(record.computed or {})
    record.computed = computed
    record.explain = explain
    record.bundle_version = current.version
    session.flush()
    _history(session, record, old, computed, explain, cause, current.version, now,
             keys=[c.key for c in bundle.classifications_of(record.object)])
    if plan and obj.parent is None:
        after_change(session, current, Change(record, record.id, cause, now, None, dict(record.data or {}), old,
                                              record.owner))
    return True


def _history(session, record, old: dict, new: dict, explain: dict, cause, version, now, keys):
    for key in keys:
        if old.get(key) != new.get(key):
            session.add(ClassificationChange(record_id=record.id, key=key, old=old.get(key), new=new.get(key), at=now,
                                             cause=cause, explain=explain.get(key, {}), bundle_version=version))


def _title(obj, stored: dict) -> str | None:
    key = obj.title or next(iter(obj.fields), None)
    value = stored.get(key) if key else None
    return None if value is None else str(value)[:200]

