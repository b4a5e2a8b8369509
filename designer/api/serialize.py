"""Records, objects and history as the API returns them.

Values are given as stored (the wire format of `records.data`: dates
`YYYY-MM-DD`, datetimes ISO 8601 in UTC, money as exact numbers); a record
carries its formulas, its classification values and, beside each value, the
stored explanation with one readable sentence (`text`) saying why.
"""
from __future__ import annotations

from datetime import UTC, datetime

from engine.explain import describe
from engine.fields import option_index

from ..models import AuditEntry, BundleVersion, ClassificationChange, Record

#: field options passed through to callers as written in the bundle
_FIELD_OPTIONS = ("help", "required", "required_if", "visible_if", "readonly", "default", "unique", "formula", "min",
                  "max", "max_length", "pattern", "decimals", "currency", "format")


def utc(value: datetime | None) -> datetime | None:
    """Timestamps always in UTC, whether just written (in the caller's zone) or read back."""
    return None if value is None else value.astimezone(UTC)


def read_only(f) -> bool:
    """Computed (formula) or assigned (autonumber): never written by a caller."""
    return f.formula is not None or f.type == "autonumber"


def field_json(f) -> dict:
    out = {"key": f.key, "type": f.type, "label": f.label, "read_only": read_only(f)}
    for name in _FIELD_OPTIONS:
        if name in f.spec:
            out[name] = f.spec[name]
    if f.type in ("select", "multiselect"):
        values, by_label = option_index(f.spec)
        labels = {v: k for k, v in by_label.items()}
        out["options"] = [{"value": v, "label": labels.get(v, v)} for v in values]
    return out


def classification_json(c) -> dict:
    values = c.values
    if values is None and c.hit != "sum":  # the values the rules and the default can give
        default = c.default if isinstance(c.default, list) else [c.default]
        values = list(dict.fromkeys(v for v in [r.value for r in c.rules] + default if v is not None))
    out = {"key": c.key, "label": c.label, "hit": c.hit, "type": c.type, "values": values,
           "rules": [{"index": r.index, "label": r.label, "when": r.when.source}
                     | ({"points": r.points} if c.hit == "sum" else {"value": r.value}) for r in c.rules]}
    if c.hit == "sum":
        out["base"] = c.base
    else:
        out["default"] = c.default
    return out


def object_json(bundle, obj) -> dict:
    return {"key": obj.key, "label": obj.label, "parent": obj.parent, "title": obj.title, "children": obj.children,
            "fields": [field_json(f) for f in obj.fields.values()],
            "classifications": [classification_json(c) for c in bundle.classifications_of(obj.key)]}


def record_json(bundle, record: Record, children: dict[str, list[Record]] | None = None) -> dict:
    """One record; `children` (child key -> rows) adds them, each with its own id, version and values."""
    obj = bundle.objects[record.object]
    data = record.data or {}
    computed = record.computed or {}
    classifications = bundle.classifications_of(obj.key)
    stored_explain = record.explain or {}
    sentences = describe(bundle.classifier(obj.key), stored_explain) if classifications else {}
    out = {
        "id": record.id,
        "object": record.object,
        "version": record.version,
        "title": record.title,
        "values": {k: (computed if f.formula is not None else data).get(k) for k, f in obj.fields.items()},
        "classifications": {c.key: computed.get(c.key) for c in classifications},
        "explain": {c.key: {**stored_explain[c.key], "text": sentences.get(c.key)}
                    for c in classifications if c.key in stored_explain},
        "created_at": utc(record.created_at),
        "created_by": record.created_by,
        "updated_at": utc(record.updated_at),
        "updated_by": record.updated_by,
        "bundle_version": record.bundle_version,
    }
    if obj.parent is None:
        out["owner"] = record.owner
        out["pool"] = record.pool
    else:
        out["parent_id"] = record.parent_id
    if children is not None:
        out["children"] = {key: [record_json(bundle, row) for row in rows] for key, rows in children.items()}
    return out


def change_json(row: ClassificationChange) -> dict:
    return {"key": row.key, "old": row.old, "new": row.new, "at": utc(row.at), "cause": row.cause,
            "explain": row.explain, "bundle_version": row.bundle_version}


def audit_json(row: AuditEntry) -> dict:
    return {"record_id": row.record_id, "object": row.object, "at": utc(row.at), "actor": row.actor,
            "action": row.action, "changes": row.changes}


def version_json(row: BundleVersion, *, source: bool = False) -> dict:
    out = {"version": row.id, "bundle": row.bundle_key, "filename": row.filename, "published_at": utc(row.published_at),
           "published_by": row.published_by, "note": row.note, "report": row.report}
    if source:
        out["source"] = row.source
    return out
