"""The expression vectors again, compiled to SQL and run by the database (SQLite or PostgreSQL).

A vector SQL cannot express exactly is listed in tests/data/sql_fallback.yaml
with its reason; those fall back to the Python evaluator, and the test checks
that the compiler says so (raises Unsupported) instead of answering wrongly.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from .conformance_support import expression_bundle, same
from .test_conformance import EXPR

FALLBACK = yaml.safe_load((Path(__file__).parent / "data" / "sql_fallback.yaml").read_text("utf-8"))
CASES = [c for c in EXPR["cases"] if "error" not in c]


@pytest.fixture
def stored(app, publish):
    """The vectors' record and children saved through the store; returns (bundle, record id, dialect)."""
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    as_of = datetime.fromisoformat(EXPR["as_of"])
    out = {}
    for calendar in ("none", "cn"):
        source = expression_bundle(EXPR, calendar).replace("bundle: conformance", f"bundle: conformance-{calendar}")
        publish(source)
        with app.app_context(), transaction(app) as s:
            cur = current(s)
            record = {k: v for k, v in EXPR["record"].items() if k not in ("id", "owner", "created_at", "updated_at")}
            saved = save(s, cur, "alice", "customer", {**record, **EXPR["children"]}, owner="alice", now=as_of,
                         allow_duplicates=True)
            out[calendar] = (cur.bundle, saved.record.id, s.get_bind().dialect.name)
    return out


def _key(case):
    return case["expr"] + (f" [{case['calendar']}]" if "calendar" in case else "")


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_vector_in_sql(app, stored, case):
    from designer.db import transaction
    from designer.records.expression_filter import layout_for
    from engine.evaluate import check_expression
    from engine.expr.sqlgen import SqlCompiler, Unsupported
    bundle, record_id, dialect = stored[case.get("calendar", "none")]
    checked = check_expression(bundle, "customer", case["expr"])
    as_of = datetime.fromisoformat(EXPR["as_of"]).astimezone(bundle.tz)
    compiler = SqlCompiler(checked, dialect, layout_for(bundle, "customer", dialect), bundle.module,
                           today=as_of.date(), now=as_of, tz=bundle.tz)
    listed = FALLBACK.get(dialect, {}).get(_key(case)) or FALLBACK.get("both", {}).get(_key(case))
    try:
        sql = compiler.sql(checked.tree, compiler.layout, None)
    except Unsupported:
        assert listed, f"{_key(case)} falls back to Python on {dialect} but is not listed in sql_fallback.yaml"
        return
    with app.app_context(), transaction(app) as s:
        value = s.execute(text(f"SELECT {sql} FROM records WHERE id = :rid").bindparams(rid=record_id, **compiler.params)).scalar()
    value = _from_sql(value, checked.type, bundle)
    if listed:
        assert not same(case["result"], value, case.get("type")), f"listed as a fallback but SQL gives it right: {value!r}"
        return
    assert same(case["result"], value, case.get("type")), f"SQL gave {value!r}"


def _from_sql(value, type_, bundle):
    """Database values to engine values (SQLite returns dates as text, booleans as 0/1, numbers as float)."""
    if value is None:
        return None
    if type_ == "bool":
        return bool(value)
    if type_ == "number":
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if type_ == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if type_ == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if type_ == "duration" and not isinstance(value, timedelta):
        return timedelta(seconds=float(value))
    return value
