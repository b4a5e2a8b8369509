"""The duplicate check (查重, SPEC §2) against stored records, identical for forms, API and imports.

Normalised keys of every `unique` field are kept in `duplicate_keys`
(engine.dedupe decides what "the same" means: case, width, white space,
phones, company names). A duplicate names the existing record, its owner and
whether it sits in a pool. `block` stops the save; `warn` stops it until the
caller confirms (`allow_duplicates`), then lets it go on.
"""
from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import RecordInvalid
from engine.dedupe import duplicate_key
from engine.errors import FieldProblem

from ..models import DuplicateKey, Record


class DuplicateFound(Exception):
    """Warn-mode duplicates: the save may go on once the user confirms."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def _keys(obj, typed: dict) -> list[tuple[str, str, str]]:
    """(field, key, mode) for every unique field with a value."""
    out = []
    for k, f in obj.fields.items():
        spec = f.spec.get("unique")
        if not spec:
            continue
        key = duplicate_key(f.type, spec, typed.get(k))
        if key is not None:
            mode = spec.get("mode", "block") if isinstance(spec, dict) else "block"
            out.append((k, key[:255], mode))
    return out


def check(session: Session, bundle, obj, typed: dict, record_id: int | None, *, allow_duplicates: bool) -> list:
    found = []
    for field_key, key, mode in _keys(obj, typed):
        stmt = (select(Record).join(DuplicateKey, DuplicateKey.record_id == Record.id)
                .where(DuplicateKey.object == obj.key, DuplicateKey.field == field_key, DuplicateKey.value == key))
        if record_id is not None:
            stmt = stmt.where(Record.id != record_id)
        other = session.scalars(stmt.limit(1)).first()
        if other is not None:
            found.append((field_key, mode, other))
    return decide(bundle, obj, found, allow_duplicates=allow_duplicates)


def decide(bundle, obj, found: list, *, allow_duplicates: bool) -> list:
    """The check's verdict on the duplicates found, (field, mode, other record) with the other's id, title,
    owner and pool: raise RecordInvalid (block), DuplicateFound (warn, unconfirmed) or return the warnings."""
    blocking, warnings = [], []
    clf = bundle.classifier(obj.key)
    for field_key, mode, other in found:
        where = (clf.message("in_pool", pool=other.pool) if other.pool else
                 clf.message("owned_by", owner=other.owner) if other.owner else clf.message("no_owner"))
        problem = FieldProblem(field_key, clf.message("duplicate", title=other.title or other.id, where=where),
                               {"record_id": str(other.id), "title": other.title, "owner": other.owner,
                                "pool": other.pool, "mode": mode})
        (blocking if mode == "block" else warnings).append(problem)
    if blocking:
        raise RecordInvalid(blocking)
    if warnings and not allow_duplicates:
        raise DuplicateFound(warnings)
    return warnings


class Stored(NamedTuple):
    """What a duplicate problem names of the record already holding a key."""

    id: int
    title: str | None
    owner: str | None
    pool: str | None


def keys_of(obj, typed: dict) -> list[tuple[str, str, str]]:
    """(field, normalised key, mode) of the record's unique fields with a value."""
    return _keys(obj, typed)


def stored_many(session: Session, obj, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    """(field, key) -> the stored record holding it (the lowest id), for many keys in one query per field."""
    by_field: dict[str, set[str]] = {}
    for field_key, key in pairs:
        by_field.setdefault(field_key, set()).add(key)
    out: dict[tuple[str, str], Stored] = {}
    for field_key, keys in by_field.items():
        rows = session.execute(
            select(DuplicateKey.value, Record.id, Record.title, Record.owner, Record.pool)
            .join(Record, DuplicateKey.record_id == Record.id)
            .where(DuplicateKey.object == obj.key, DuplicateKey.field == field_key, DuplicateKey.value.in_(keys))
            .order_by(Record.id))
        for value, *other in rows:
            out.setdefault((field_key, value), Stored(*other))
    return out


def index(session: Session, bundle, obj, typed: dict, record: Record):
    """Replace the record's stored duplicate keys with those of its current values."""
    session.execute(delete(DuplicateKey).where(DuplicateKey.record_id == record.id))
    for field_key, key, _mode in _keys(obj, typed):
        session.add(DuplicateKey(record_id=record.id, object=obj.key, field=field_key, value=key))
