"""Applying Alembic migrations from code: `tierwise db upgrade`, `serve` at start-up, and the tests."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def include_object(obj, name, type_, reflected, compare_to):
    """What Alembic compares and autogenerates: not the structures made outside models.

    Per-classification expression indexes are made by publishing; title search
    structures are dialect-specific (FTS5 tables, trigram indexes) and made by
    raw SQL in their migration, as are PostgreSQL's index of `history_hours`
    (which appends there, keyed on SQLite: migration 0010) and the partial
    index of the history rows that have a previous change (migration 0018).
    """
    if type_ == "index" and name and (name.startswith("ix_records_c_")
                                      or name in ("ix_records_title_trgm", "ix_history_hours",
                                                  "ix_classification_history_key_prev")):
        return False
    return not (type_ == "table" and name and name.startswith("records_title"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def upgrade(engine: Engine, revision: str = "head"):
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str):
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
