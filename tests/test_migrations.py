"""Models and migrations agree, and every migration goes down and up again (on SQLite and PostgreSQL)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from designer.db import make_engine
from designer.migrate import downgrade, include_object, upgrade
from designer.models import Base


def test_models_match_migrations(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": include_object, "compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == [], f"models and migrations disagree; add a migration: {diff}"
    finally:
        engine.dispose()


def test_migrations_go_down_and_up(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        downgrade(engine, "base")
        upgrade(engine)
    finally:
        engine.dispose()
