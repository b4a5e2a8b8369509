"""title search: trigram indexes for substring search on record titles

SQLite: an FTS5 table with the trigram tokenizer, kept in step with
`records.title` by triggers. PostgreSQL: pg_trgm and a GIN index (skipped,
with searches falling back to scans, where the extension may not be created).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE records_title USING fts5(title, content='records', content_rowid='id', "
                   "tokenize='trigram')")
        op.execute("CREATE TRIGGER records_title_ai AFTER INSERT ON records WHEN new.title IS NOT NULL BEGIN "
                   "INSERT INTO records_title(rowid, title) VALUES (new.id, new.title); END")
        op.execute("CREATE TRIGGER records_title_ad AFTER DELETE ON records WHEN old.title IS NOT NULL BEGIN "
                   "INSERT INTO records_title(records_title, rowid, title) VALUES ('delete', old.id, old.title); END")
        op.execute("CREATE TRIGGER records_title_au AFTER UPDATE OF title ON records BEGIN "
                   "INSERT INTO records_title(records_title, rowid, title) SELECT 'delete', old.id, old.title "
                   "WHERE old.title IS NOT NULL; "
                   "INSERT INTO records_title(rowid, title) SELECT new.id, new.title WHERE new.title IS NOT NULL; END")
        op.execute("INSERT INTO records_title(records_title) VALUES ('rebuild')")
        return
    if bind.dialect.name == "postgresql":
        nested = bind.begin_nested()
        try:
            # in `public`, not the first schema of the search path: an extension inside a workspace's own
            # schema would vanish (with every other schema's trigram index) when that schema is dropped
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
            schema = bind.exec_driver_sql(
                "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'").scalar()
            bind.exec_driver_sql(f'CREATE INDEX ix_records_title_trgm ON records USING gin (title "{schema}".gin_trgm_ops)')
            nested.commit()
        except Exception:  # no right to create the extension: searches scan instead
            nested.rollback()


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("records_title_ai", "records_title_ad", "records_title_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS records_title")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_records_title_trgm")
