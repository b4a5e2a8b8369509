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
    local = now.astimezone(bundle.tz)
    for key, f in obj.fields.items():
        if f.type != "autonumber" or stored.get(key) is not None:
            continue
        fmt = f.spec.get("format") or "{seq:6}"
        parts = {"yyyy": f"{local.year:04d}", "yy": f"{local.year % 100:02d}", "mm": f"{local.month:02d}",
                 "dd": f"{local.day:02d}"}
        period = "".join(parts[t] for t in ("yyyy", "yy", "mm", "dd") if "{" + t + "}" in fmt) or "-"
        seq = next_value(session, obj.key, key, period)

        def fill(m, seq=seq, parts=parts):
            token = m.group(1)
            if token.startswith("seq"):
                return str(seq).zfill(int(m.group(2) or 1))
            return parts[token]
        out[key] = _TOKEN.sub(fill, fmt)
    return out


def next_value(session: Session, object_key: str, field: str, period: str) -> int:
    stmt = (update(Counter).where(Counter.object == object_key, Counter.field == field, Counter.period == period)
            .values(value=Counter.value + 1).returning(Counter.value))
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
