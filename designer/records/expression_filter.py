"""The list page's expression filter: SPEC language in, a SQL condition out (never evaluated row by row)."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import ExpressionError
from engine.evaluate import check_expression
from engine.expr.sqlgen import Layout, SqlCompiler, Unsupported

from ..clock import now


def layout_for(bundle, object_key: str, dialect: str) -> Layout:
    """Where each name of an object lives in the `records` table."""
    def names(key):
        obj = bundle.objects[key]
        out = {k: ("json", "computed" if f.formula is not None else "data") for k, f in obj.fields.items()}
        out.update({c.key: ("json", "computed") for c in bundle.classifications_of(key)})
        if obj.parent is None:
            out["owner"] = ("column", "owner")
        if dialect == "postgresql":
            out.update(created_at=("column", "created_at"), updated_at=("column", "updated_at"))
        return out
    obj = bundle.objects[object_key]
    return Layout(names(object_key), {k: Layout(names(k), alias="ch") for k in obj.children})


def where_clause(session: Session, bundle, object_key: str, source: str):
    """(SQL condition, None) or (None, {"column", "message"}) for the list page to show under the box."""
    try:
        checked = check_expression(bundle, object_key, source)
    except ExpressionError as exc:
        return None, {"column": exc.column, "message": exc.message, "kind": exc.kind}
    if checked.type != "bool":
        return None, {"column": 1, "message": f"a filter must be a condition (true or false); this gives {checked.type}",
                      "kind": "type"}
    dialect = session.get_bind().dialect.name
    at = now()
    local = at.astimezone(bundle.tz)
    try:
        sql, params = SqlCompiler(checked, dialect, layout_for(bundle, object_key, dialect), bundle.module,
                                  today=local.date(), now=local, tz=bundle.tz).condition()
    except Unsupported as exc:
        return None, {"column": exc.column, "message": f"cannot filter on this in the database: {exc.what}",
                      "kind": "unsupported"}
    return text(sql).bindparams(**params), None
