"""dashboards: a narrow table of the values dashboards count by, kept by PostgreSQL triggers

PostgreSQL answers a count from an index alone only when every column the
query reads is a column of the index; an expression over `computed` or
`data` never is, so counting a million customers by tier, stage or visit
time read every row of `records` (3.6 GB of JSON). `record_values` holds
one short row per record and value (designer.dashboards.values says which)
under a covering (object, key, value, owner) index.

Statement-level triggers with transition tables keep it in step with
`records` whoever writes: a saved form, the SQL reclassification of a
publish, an import's COPY, a delete, an owner change or a pool move. Each
works on the statement's rows as sets, and an UPDATE writes only the rows
whose values or owner changed. SQLite keeps the table empty: its expression
indexes already answer the same counts from the index alone.

The data fields copied (the funnel's field, the activities' time) are the
bundle's (`record_values_fields()`, replaced by `values.sync`); the
classifications need no list: they are the keys of each record's
explanation.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: the rows of `record_values` for the records of {t}: each classification value of a top-level record that is not
#: a list or an object (a record's classifications are the keys of its explanation), then each field of
#: `record_values_fields()`; `owner` is the record's, a child's that of its parent
ROWS = """
    SELECT r.id AS record_id, k.key, r.object, r.computed ->> k.key AS value, r.owner
      FROM {t} r
     CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(r.explain) = 'object' THEN r.explain END) AS k(key)
     WHERE r.parent_id IS NULL AND COALESCE(jsonb_typeof(r.computed -> k.key), 'null') NOT IN ('array', 'object')
    UNION ALL
    SELECT r.id, f.key, r.object, r.data ->> f.key,
           CASE WHEN r.parent_id IS NULL THEN r.owner
                ELSE (SELECT p.owner FROM records p WHERE p.id = r.parent_id) END
      FROM {t} r JOIN record_values_fields() f ON f.object = r.object
     WHERE NOT (COALESCE(r.explain, '{{}}') ? f.key)"""

#: the columns the rows are made of: an UPDATE that sets none of them (a follow-up time, a version) changes none
COLUMNS = ("object", "parent_id", "owner", "data", "computed", "explain")


def _row(side: str) -> str:
    return "(" + ", ".join(f"{side}.{c}" for c in COLUMNS) + ")"


FUNCTIONS = {
    "record_values_fields": """
CREATE OR REPLACE FUNCTION record_values_fields() RETURNS TABLE (object text, key text)
LANGUAGE sql STABLE AS $$ SELECT NULL::text, NULL::text WHERE false $$""",
    # Each statement is planned when the trigger runs (EXECUTE), for the number of rows in the transition
    # tables: a plan cached at a one-row save would walk a 50,000-row chunk in nested loops.
    "record_values_inserted": f"""
CREATE OR REPLACE FUNCTION record_values_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$ INSERT INTO record_values (record_id, key, object, value, owner) {ROWS.format(t="new_rows")} $q$;
    RETURN NULL;
END $$""",
    # An UPDATE that changed a column the rows are made of pairs the rows of the old and new versions by
    # (record, key) and writes only the differences; a top-level record whose owner changed passes it on to
    # its children's rows (found by the parent index). Room to pair a 50,000-record chunk of a
    # reclassification in memory.
    "record_values_updated": f"""
CREATE OR REPLACE FUNCTION record_values_updated() RETURNS trigger LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
    touched boolean;
BEGIN
    EXECUTE $q$ SELECT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o ON o.id = n.id
                                WHERE {_row("n")} IS DISTINCT FROM {_row("o")}) $q$ INTO touched;
    IF NOT touched THEN  -- most UPDATEs of a record set none of them: done before planning the pairing below
        RETURN NULL;
    END IF;
    EXECUTE $q$
    WITH d AS (
        SELECT n.record_id, n.key, n.object, n.value, n.owner, o.record_id AS old_id, o.key AS old_key
          FROM ({ROWS.format(t="new_rows")}) n
          FULL JOIN ({ROWS.format(t="old_rows")}) o ON o.record_id = n.record_id AND o.key = n.key
         WHERE n.record_id IS NULL OR o.record_id IS NULL OR n.value IS DISTINCT FROM o.value
            OR n.owner IS DISTINCT FROM o.owner OR n.object IS DISTINCT FROM o.object
    ), gone AS (
        DELETE FROM record_values v USING d
         WHERE d.record_id IS NULL AND v.record_id = d.old_id AND v.key = d.old_key
    )
    INSERT INTO record_values (record_id, key, object, value, owner)
    SELECT record_id, key, object, value, owner FROM d WHERE record_id IS NOT NULL
    ON CONFLICT (record_id, key) DO UPDATE SET object = excluded.object, value = excluded.value,
                                               owner = excluded.owner $q$;
    EXECUTE $q$
    UPDATE record_values v SET owner = m.owner
      FROM (SELECT c.id, n.owner
              FROM new_rows n JOIN old_rows o ON o.id = n.id
             CROSS JOIN LATERAL (SELECT c.id FROM records c WHERE c.parent_id = n.id OFFSET 0) c
             WHERE n.parent_id IS NULL AND n.owner IS DISTINCT FROM o.owner) m
     WHERE v.record_id = m.id AND v.owner IS DISTINCT FROM m.owner $q$;
    RETURN NULL;
END $$""",
    "record_values_deleted": """
CREATE OR REPLACE FUNCTION record_values_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$ DELETE FROM record_values v USING old_rows o WHERE v.record_id = o.id $q$;
    RETURN NULL;
END $$""",
}

#: each works on the statement's rows as sets (transition tables): an import's COPY, a chunk of a reclassification
TRIGGERS = {
    "record_values_insert": ("INSERT", "NEW TABLE AS new_rows", "record_values_inserted"),
    "record_values_update": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", "record_values_updated"),
    "record_values_delete": ("DELETE", "OLD TABLE AS old_rows", "record_values_deleted"),
}


def upgrade():
    op.create_table(
        "record_values",
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("object", sa.String(length=63), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=150), nullable=True),
        sa.PrimaryKeyConstraint("record_id", "key", name=op.f("pk_record_values")),
    )
    op.create_index("ix_record_values_count", "record_values", ["object", "key", "value", "owner"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in FUNCTIONS.values():
        op.execute(sql)
    for name, event in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} AFTER {event[0]} ON records REFERENCING {event[1]} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {event[2]}()")
    op.execute(f"INSERT INTO record_values (record_id, key, object, value, owner) {ROWS.format(t='records')}")
    from designer.dashboards import values  # the fields come from the published bundle, which only the app reads
    values.sync(op.get_bind(), values.published(op.get_bind()))
    op.execute("ANALYZE record_values")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON records")
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_record_values_count", table_name="record_values")
    op.drop_table("record_values")
