"""Alembic environment: the generic one, pointed at tierwise's models and database URL."""
from __future__ import annotations

from alembic import context

from designer.db import make_engine
from designer.migrate import include_object
from designer.models import Base

config = context.config
target_metadata = Base.metadata



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
