"""The values dashboards count by, in a narrow table PostgreSQL keeps: `record_values` (migration 0009).

PostgreSQL counts from an index alone (an index-only scan) only when every
column a query reads is a column of the index. An expression index on
`computed ->> 'tier'` never qualifies, as the expression reads `computed`,
so every count by tier, stage or visit time read each wide row of
`records`: half a second to a second and a half at a million customers.
`record_values` holds a short row per record and value under the covering
index (object, key, value, owner), which answers those counts alone once
VACUUM has marked its pages all-visible (autovacuum does, as for any table).

A row is kept for:

- each classification of a top-level record whose value is a text, number,
  boolean or empty (the keys of the record's explanation: no list to keep,
  so a publish that adds or changes a classification is followed by the
  reclassification's own UPDATEs);
- each data field `fields(bundle)` names, for every record of its object:
  the funnel's field and the activities' time, listed for the triggers by
  the SQL function `record_values_fields()`, which `sync` rewrites.

`owner` is the record's owner; a child's row carries its parent's, the
scope it is counted in, so a team's activities are a range of the index
rather than a join to the parents.

The triggers on `records` (migration 0009) keep the rows whoever writes.
SQLite has no such triggers and leaves the table empty: its expression
indexes are covering indexes already.
"""
from __future__ import annotations

from sqlalchemy import text

from engine import load_bundle_text

from . import indexes

#: the SQL function listing the data fields the triggers copy
FIELDS = "record_values_fields"


def _dialect(db) -> str:
    """The dialect of a Session or a Connection (the migration passes its connection)."""
    return db.dialect.name if hasattr(db, "dialect") else db.get_bind().dialect.name


def fields(bundle) -> set[tuple[str, str]]:
    """(object, field key) of the data fields dashboards count by: those `dashboards.indexes` indexes."""
    return {(obj, key) for obj, key, _kind in indexes.wanted(bundle).values()}


def published(db):
    """The newest published bundle (None before the first publish), for the migration that makes the table."""
    row = db.execute(text("SELECT source, filename FROM bundle_versions ORDER BY id DESC LIMIT 1")).first()
    return None if row is None else load_bundle_text(row[0], row[1])


def kept(db) -> set[tuple[str, str]]:
    """The data fields the triggers copy now (PostgreSQL)."""
    return {(o, k) for o, k in db.execute(text(f"SELECT object, key FROM {FIELDS}()"))}


def tracked(session, obj: str, key: str) -> bool:
    """Whether `record_values` holds data field `key` of `obj` (PostgreSQL); asked once a session (a request)."""
    memo = session.info.get("record_values_fields")
    if memo is None:
        memo = session.info["record_values_fields"] = kept(session)
    return (obj, key) in memo


def sync(db, bundle):
    """Make the triggers copy the bundle's data fields (`fields`): fields added get their rows from the records
    now, fields no longer charted lose theirs. PostgreSQL only; `bundle` None copies none.

    To be called where publishing makes the dashboards' indexes (`bundles.indexes.sync`), before the
    reclassification; until then a field that is not copied is counted from `records`, as on SQLite."""
    if _dialect(db) != "postgresql":
        return
    want = fields(bundle) if bundle is not None else set()
    have = kept(db)
    if want == have:
        return
    for obj, key in want:  # they are written into the function's SQL
        if not all(part.replace("_", "").isalnum() and part.isascii() for part in (obj, key)):
            raise ValueError(f"not a key: {obj}.{key}")
    pairs = ", ".join(f"('{o}', '{k}')" for o, k in sorted(want))
    body = f"SELECT * FROM (VALUES {pairs}) f(object, key)" if want else "SELECT NULL::text, NULL::text WHERE false"
    db.execute(text(f"CREATE OR REPLACE FUNCTION {FIELDS}() RETURNS TABLE (object text, key text) "
                    f"LANGUAGE sql STABLE AS $$ {body} $$"))
    for obj, key in sorted(have - want):
        db.execute(text("DELETE FROM record_values WHERE object = :o AND key = :k"), {"o": obj, "k": key})
    for obj, key in sorted(want - have):
        _fill(db, obj, key)
    db.execute(text("ANALYZE record_values"))


def rebuild(db):
    """Fill the table again from `records`, as the triggers would have (PostgreSQL).

    For records written with triggers off: a bulk load under `session_replication_role = replica` (the
    benchmarks' loader) or a restore with `--disable-triggers`.
    """
    if _dialect(db) != "postgresql":
        return
    db.execute(text("TRUNCATE record_values"))
    db.execute(text(
        "INSERT INTO record_values (record_id, key, object, value, owner) "
        "SELECT r.id, k.key, r.object, r.computed ->> k.key, r.owner FROM records r CROSS JOIN LATERAL "
        "jsonb_object_keys(CASE WHEN jsonb_typeof(r.explain) = 'object' THEN r.explain END) AS k(key) "
        "WHERE r.parent_id IS NULL AND COALESCE(jsonb_typeof(r.computed -> k.key), 'null') NOT IN ('array', 'object')"))
    for obj, key in sorted(kept(db)):
        _fill(db, obj, key)
    db.execute(text("ANALYZE record_values"))


def _fill(db, obj: str, key: str):
    """The rows of data field `key` of every `obj` record, as the insert trigger makes them."""
    db.execute(text("INSERT INTO record_values (record_id, key, object, value, owner) "
                    "SELECT r.id, CAST(:k AS text), r.object, r.data ->> CAST(:k AS text), "
                    "CASE WHEN r.parent_id IS NULL THEN r.owner ELSE p.owner END "
                    "FROM records r LEFT JOIN records p ON p.id = r.parent_id "
                    "WHERE r.object = :o AND NOT (COALESCE(r.explain, '{}') ? CAST(:k AS text)) "
                    "ON CONFLICT (record_id, key) DO NOTHING"), {"o": obj, "k": key})
