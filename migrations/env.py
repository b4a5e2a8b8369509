"""Alembic environment: the generic one, pointed at tierwise's models and database URL."""
from __future__ import annotations

from alembic import context

from designer.db import make_engine
from designer.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):
    # Per-classification expression indexes are made by publishing; title search structures are
    # dialect-specific (FTS5 tables, trigram indexes) and made by raw SQL in their migration.
    if type_ == "index" and name and (name.startswith("ix_records_c_") or name == "ix_records_title_trgm"):
        return False
    return not (type_ == "table" and name and name.startswith("records_title"))


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection):
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=include_object, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
