"""Autonumber fields (SPEC §2): assigned on create from a format such as ``KH-{yyyy}-{seq:5}``, never reused.

The counter is bumped with one atomic ``UPDATE ... RETURNING`` (SQLite 3.35+
and PostgreSQL), so concurrent creates never share a number; a number taken
by a transaction that rolls back is skipped, not reused.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from ..models import Counter

_TOKEN = re.compile(r"\{(yyyy|yy|mm|dd|seq(?::(\d{1,2}))?)\}")


def assign(session: Session, bundle, obj, stored: dict, now: datetime) -> dict:
    out = {}
    for key, f in obj.fields.items():
        if f.type != "autonumber" or stored.get(key) is not None:
            continue
        fmt, parts, period = _format(bundle, f, now)
        out[key] = _fill(fmt, parts, next_value(session, obj.key, key, period))
    return out


def assign_many(session: Session, bundle, obj, stored: list[dict], now: datetime) -> list[dict]:
    """`assign` for many new records in order, each field's counter bumped once for the whole batch."""
    out: list[dict] = [{} for _ in stored]
    for key, f in obj.fields.items():
        if f.type != "autonumber":
            continue
        wanting = [i for i, data in enumerate(stored) if data.get(key) is None]
        if not wanting:
            continue
        fmt, parts, period = _format(bundle, f, now)
        last = next_value(session, obj.key, key, period, step=len(wanting))
        for seq, i in enumerate(wanting, start=last - len(wanting) + 1):
            out[i][key] = _fill(fmt, parts, seq)
    return out


def _format(bundle, f, now: datetime) -> tuple[str, dict, str]:
    """(format, date parts, counter period) of an autonumber field at `now` on the bundle's clock."""
    fmt = f.spec.get("format") or "{seq:6}"
    local = now.astimezone(bundle.tz)
    parts = {"yyyy": f"{local.year:04d}", "yy": f"{local.year % 100:02d}", "mm": f"{local.month:02d}",
             "dd": f"{local.day:02d}"}
    period = "".join(parts[t] for t in ("yyyy", "yy", "mm", "dd") if "{" + t + "}" in fmt) or "-"
    return fmt, parts, period


def _fill(fmt: str, parts: dict, seq: int) -> str:
    def token(m):
        name = m.group(1)
        if name.startswith("seq"):
            return str(seq).zfill(int(m.group(2) or 1))
        return parts[name]
    return _TOKEN.sub(token, fmt)


def next_value(session: Session, object_key: str, field: str, period: str, step: int = 1) -> int:
    """The counter bumped by `step` (numbers value-step+1 … value are the caller's)."""
    stmt = (update(Counter).where(Counter.object == object_key, Counter.field == field, Counter.period == period)
            .values(value=Counter.value + step).returning(Counter.value))
    value = session.execute(stmt).scalar()
    if value is None:
        dialect = session.get_bind().dialect.name
        row = {"object": object_key, "field": field, "period": period, "value": 0}
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            session.execute(pg_insert(Counter).values(**row).on_conflict_do_nothing())
        else:
            session.execute(insert(Counter).values(**row).prefix_with("OR IGNORE"))
        value = session.execute(stmt).scalar()
    return value
