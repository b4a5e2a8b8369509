"""Compiling checked expressions to SQL for SQLite and PostgreSQL (list filters, bulk work).

SQL's NULL already follows SPEC §3.3's three-valued logic (Kleene AND/OR/NOT,
NULL from comparisons and arithmetic), so most of the language maps one to
one; a WHERE clause keeps a row only when the condition is true, as a rule
does. Sub-trees that read no record (``today() - 365d``) are computed once in
Python and bound as parameters. Aggregates become correlated sub-queries on
the child rows.

What SQL cannot say exactly raises `Unsupported` naming the construct and
its column, and callers fall back to the Python evaluator: on SQLite,
numbers are floating point (`0.1 + 0.2 == 0.3` is false there) and
datetimes' local dates assume the zone's offset at the evaluation instant.

The storage layout is the caller's: `Layout` says how to read a name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, UTC
from decimal import Decimal

from . import ast
from .codegen import Body, ExprGen
from .scope import BOOL, DATE, DATETIME, DURATION, NUMBER, TEXT
from .typecheck import Checked


class Unsupported(Exception):
    """This expression (or a part of it) has no exact SQL form here."""

    def __init__(self, column: int, what: str):
        self.column = column
        self.what = what
        super().__init__(f"column {column}: {what}")


@dataclass
class Layout:
    """How the stored records look: a table alias and, per name, the JSON column or real column holding it."""

    #: name -> (kind, where): kind is 'json' (where = JSON column), 'column' (where = SQL column name) or
    #: 'sql' (where = an SQL expression of the name's type, `{a}` standing for the table alias)
    names: dict
    #: child object key -> Layout of its rows (alias `ch`)
    children: dict = field(default_factory=dict)
    alias: str = "records"
    table: str = "records"


class SqlCompiler:
    """One expression to one SQL condition or value with bound parameters."""

    def __init__(self, checked: Checked, dialect: str, layout: Layout, module, *, today: date, now: datetime, tz,
                 params: dict | None = None):
        """`params` may be shared by several compilers whose SQL goes into one statement (names stay unique)."""
        self.checked = checked
        self.pg = dialect == "postgresql"
        self.layout = layout
        self.module = module
        self.today = today
        self.now = now
        self.tz = tz
        self.params: dict = {} if params is None else params

    # -- entry ---------------------------------------------------------------
    def condition(self) -> tuple[str, dict]:
        sql = self.sql(self.checked.tree, self.layout, None)
        return sql, self.params

    # -- helpers -------------------------------------------------------------
    def info(self, node):
        return self.checked.info[id(node)]

    def param(self, value) -> str:
        name = f"p{len(self.params)}"
        if not self.pg:
            if isinstance(value, Decimal):
                value = int(value) if value == value.to_integral_value() else float(value)
            elif isinstance(value, datetime):
                value = value.astimezone(UTC).isoformat()
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, bool):
                value = int(value)
        self.params[name] = value
        return f":{name}"

    def constant(self, node):
        """Value of a sub-tree that reads no record, computed by the Python evaluator."""
        body = Body(self.module)
        gen = ExprGen(body, self.checked, {})
        code = gen.value(node)
        body.emit(f"return {code}")
        fn = self.module.compile("def const(r, today, now, p=None):\n" + "\n".join(body.lines) + "\n", "const")
        return fn({}, self.today, self.now)

    def reads_record(self, node) -> bool:
        return any(isinstance(n, ast.Name) or (isinstance(n, ast.Call) and id(n) in _aggs(self.checked))
                   for n in ast.walk(node))

    # -- nodes ---------------------------------------------------------------
    def sql(self, node, layout: Layout, outer: Layout | None) -> str:
        info = self.info(node)
        if not isinstance(node, ast.Literal) and not self.reads_record(node):
            value = self.constant(node)
            if value is None:
                return "NULL"
            if isinstance(value, bool):
                return self.boolean(value)
            return self.typed_param(value, info.type)
        method = getattr(self, "s_" + type(node).__name__)
        return method(node, layout, outer)

    def boolean(self, value: bool) -> str:
        return ("TRUE" if value else "FALSE") if self.pg else str(int(value))

    def typed_param(self, value, type_) -> str:
        if isinstance(value, timedelta):  # durations are numbers of seconds in SQL
            value, type_ = Decimal(value // timedelta(microseconds=1)) / 1_000_000, NUMBER
        p = self.param(value)
        if self.pg:
            cast = {NUMBER: "numeric", DATE: "date", DATETIME: "timestamptz", TEXT: "text", BOOL: "boolean"}.get(type_)
            return f"CAST({p} AS {cast})" if cast else p
        return p

    def s_Literal(self, node, layout, outer):
        v = node.value
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return self.boolean(v)
        return self.typed_param(v, self.info(node).type)

    def s_Name(self, node, layout: Layout, outer):
        parts = node.parts
        if len(parts) == 2 and parts[0] == "parent":
            if outer is None:
                raise Unsupported(node.col, "`parent.` outside an aggregate")
            return self.access(outer, parts[1], self.info(node).type, node)
        if len(parts) == 2:
            raise Unsupported(node.col, "`old.` values")
        return self.access(layout, parts[0], self.info(node).type, node)

    def access(self, layout: Layout, name: str, type_: str, node) -> str:
        where = layout.names.get(name)
        if where is None:
            raise Unsupported(node.col, f"`{name}` is not stored where SQL can read it")
        kind, column = where
        if kind == "column":
            return f"{layout.alias}.{column}"
        if kind == "sql":
            return column.format(a=layout.alias)
        _check_key(name)
        if self.pg:
            if type_.startswith("list:"):
                return f"({layout.alias}.{column} -> '{name}')"
            text = f"({layout.alias}.{column} ->> '{name}')"
            cast = {NUMBER: "numeric", BOOL: "boolean", DATE: "date", DATETIME: "timestamptz"}.get(type_)
            return f"CAST({text} AS {cast})" if cast else text
        return f"json_extract({layout.alias}.{column}, '$.{name}')"

    def s_ListLit(self, node, layout, outer):
        raise Unsupported(node.col, "a list outside `in`")

    def s_Unary(self, node, layout, outer):
        inner = self.sql(node.operand, layout, outer)
        return f"(NOT {inner})" if node.op == "not" else f"(-{inner})"

    def s_IsEmpty(self, node, layout, outer):
        inner = self.sql(node.operand, layout, outer)
        return f"({inner} IS {'NOT ' if node.negate else ''}NULL)"

    def s_In(self, node, layout, outer):
        item = self.sql(node.item, layout, outer)
        cont = node.container
        ctype = self.info(cont).type
        neg = "NOT " if node.negate else ""
        if isinstance(cont, ast.ListLit):
            if not cont.items:
                return "FALSE" if not node.negate else "TRUE"
            items = ", ".join(self.sql(i, layout, outer) for i in cont.items)
            return f"({item} {neg}IN ({items}))"
        container = self.sql(cont, layout, outer)
        if ctype == TEXT:
            found = f"strpos(COALESCE({container}, ''), {item}) > 0" if self.pg else \
                f"instr(COALESCE({container}, ''), {item}) > 0"
        elif self.pg:
            found = f"COALESCE({container} ? {item}, FALSE)"
        else:
            found = f"EXISTS (SELECT 1 FROM json_each({container}) WHERE json_each.value = {item})"
        return f"(CASE WHEN {item} IS NULL THEN NULL ELSE {neg}({found}) END)"

    def s_Binary(self, node, layout, outer):
        op = node.op
        lt, rt = self.info(node.left).type, self.info(node.right).type
        if op in ("and", "or"):
            return f"({self.sql(node.left, layout, outer)} {op.upper()} {self.sql(node.right, layout, outer)})"
        if op in ("==", "!=", "<", "<=", ">", ">="):
            sql_op = {"==": "=", "!=": "<>"}.get(op, op)
            if lt != rt:  # a date against a datetime: the date is its midnight in the bundle's timezone
                left, right = self.as_datetime(node.left, layout, outer), self.as_datetime(node.right, layout, outer)
                return f"({left} {sql_op} {right})"
            return f"({self.sql(node.left, layout, outer)} {sql_op} {self.sql(node.right, layout, outer)})"
        if op == "-" and lt in (DATE, DATETIME) and rt in (DATE, DATETIME):
            return self.seconds_between(node, layout, outer)
        if lt == DATE and rt == DURATION and self.info(node).type == DATE:
            days = self.constant(node.right)
            if days is None:
                return "NULL"
            n = days.days if op == "+" else -days.days
            left = self.sql(node.left, layout, outer)
            return f"({left} + {int(n)})" if self.pg else f"date({left}, '{int(n):+d} days')"
        if lt == NUMBER and rt == NUMBER:
            a, b = self.sql(node.left, layout, outer), self.sql(node.right, layout, outer)
            if op == "/":
                return f"({a} / NULLIF({b}, 0))" if self.pg else f"(CAST({a} AS REAL) / NULLIF({b}, 0))"
            if op == "%":
                return f"MOD({a}, NULLIF({b}, 0))" if self.pg else f"({a} % NULLIF({b}, 0))"
            return f"({a} {op} {b})"
        if op == "+" and lt == TEXT and rt == TEXT:
            return f"({self.sql(node.left, layout, outer)} || {self.sql(node.right, layout, outer)})"
        raise Unsupported(node.col, f"`{op}` on {lt} and {rt}")

    def as_datetime(self, node, layout, outer) -> str:
        if self.info(node).type == DATETIME:
            return self.sql(node, layout, outer)
        if self.reads_record(node):
            raise Unsupported(node.col, "a stored date compared with a datetime")
        value = self.constant(node)
        if value is None:
            return "NULL"
        return self.typed_param(datetime.combine(value, datetime.min.time(), tzinfo=self.tz), DATETIME)

    def seconds_between(self, node, layout, outer) -> str:
        """`a - b` of dates or datetimes, as seconds (the SQL form of a duration)."""
        types = {self.info(node.left).type, self.info(node.right).type}
        if types == {DATE}:
            a, b = self.sql(node.left, layout, outer), self.sql(node.right, layout, outer)
            return f"(({a} - {b}) * 86400)" if self.pg else \
                f"CAST(ROUND((julianday({a}) - julianday({b})) * 86400) AS INTEGER)"
        a, b = self.as_datetime(node.left, layout, outer), self.as_datetime(node.right, layout, outer)
        return f"EXTRACT(EPOCH FROM ({a} - {b}))" if self.pg else \
            f"CAST(ROUND((julianday({a}) - julianday({b})) * 86400) AS INTEGER)"

    def s_Call(self, node, layout, outer):
        if id(node) in _aggs(self.checked):
            return self.aggregate(node, layout)
        name = node.func
        args = node.args
        types = [self.info(a).type for a in args]
        if name == "if":
            c, a, b = (self.sql(x, layout, outer) for x in args)
            return f"(CASE WHEN {c} THEN {a} ELSE {b} END)"
        sql = [self.sql(a, layout, outer) for a in args]
        if name == "coalesce":
            return f"COALESCE({', '.join(sql)})"
        if name in ("days_since", "days_until"):
            d = self.local_date(sql[0], types[0], node)
            today = self.typed_param(self.today, DATE)
            diff = f"({today} - {d})" if self.pg else f"CAST(julianday({today}) - julianday({d}) AS INTEGER)"
            return diff if name == "days_since" else f"(-{diff})"
        if name in ("year", "month", "day"):
            d = self.local_date(sql[0], types[0], node)
            if self.pg:
                return f"CAST(EXTRACT({name.upper()} FROM {d}) AS integer)"
            return f"CAST(strftime('{ {'year': '%Y', 'month': '%m', 'day': '%d'}[name] }', {d}) AS INTEGER)"
        if name == "abs":
            return f"ABS({sql[0]})"
        if name == "round":  # half away from zero on both; a whole result is an integer, as in Python
            digits = 0 if len(args) == 1 else self.constant(args[1]) if not self.reads_record(args[1]) else None
            if digits is None or int(digits) != digits:
                raise Unsupported(node.col, "round() to a number of digits read from the record")
            digits = int(digits)
            if self.pg:
                return f"ROUND(CAST({sql[0]} AS numeric), {digits})"
            if digits < 0:
                raise Unsupported(node.col, "round() to tens or more on SQLite")
            return f"CAST(ROUND({sql[0]}) AS INTEGER)" if digits == 0 else f"ROUND({sql[0]}, {digits})"
        if name in ("lower", "upper"):
            return f"{name.upper()}({sql[0]})"
        if name == "len" and types[0] == TEXT:
            return f"char_length({sql[0]})" if self.pg else f"length({sql[0]})"
        if name == "len":
            return f"jsonb_array_length({sql[0]})" if self.pg else f"json_array_length({sql[0]})"
        if name == "endswith":
            return f"(substr({sql[0]}, length({sql[0]}) - length({sql[1]}) + 1) = {sql[1]})"
        if name == "contains":
            return f"(strpos({sql[0]}, {sql[1]}) > 0)" if self.pg else f"(instr({sql[0]}, {sql[1]}) > 0)"
        if name == "startswith":
            return f"(substr({sql[0]}, 1, length({sql[1]})) = {sql[1]})"
        if name in ("min", "max") and self.pg:
            return f"{'LEAST' if name == 'min' else 'GREATEST'}({', '.join(sql)})"
        if name in ("min", "max"):  # SQLite's scalar min()/max() give NULL if any argument is: skip empties
            out = sql[0]
            better = "<" if name == "min" else ">"
            for other in sql[1:]:
                out = (f"(CASE WHEN {out} IS NULL THEN {other} WHEN {other} IS NULL THEN {out} "
                       f"WHEN {other} {better} {out} THEN {other} ELSE {out} END)")
            return out
        raise Unsupported(node.col, f"{name}() in SQL")

    def local_date(self, sql: str, type_: str, node) -> str:
        if type_ == DATE:
            return sql
        if self.pg:
            return f"CAST(({sql} AT TIME ZONE {self.param(str(self.tz.key))}) AS date)"
        offset = self.now.astimezone(self.tz).utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        return f"date({sql}, '{minutes:+d} minutes')"

    def aggregate(self, node, layout: Layout) -> str:
        child_key = node.args[0].parts[0]
        child = layout.children.get(child_key)
        if child is None:
            raise Unsupported(node.col, f"`{child_key}` rows are not stored where SQL can read them")
        ch = Layout(child.names, {}, alias="ch", table=child.table)
        where = [f"ch.parent_id = {layout.alias}.id", f"ch.object = '{_check_key(child_key)}'"]
        if node.where is not None:
            where.append(self.sql(node.where, ch, layout))
        cond = " AND ".join(where)
        func = node.func
        if func == "exists":
            return f"EXISTS (SELECT 1 FROM {child.table} ch WHERE {cond})"
        if func == "count":
            return f"(SELECT COUNT(*) FROM {child.table} ch WHERE {cond})"
        value = self.access(ch, node.args[0].parts[1], self.info(node.args[0]).type, node)
        sql_func = {"sum": "SUM", "avg": "AVG", "min": "MIN", "max": "MAX"}[func]
        agg = f"(SELECT {sql_func}({value}) FROM {child.table} ch WHERE {cond})"
        return f"COALESCE({agg}, 0)" if func == "sum" else agg


def _aggs(checked: Checked) -> set:
    cached = getattr(checked, "_agg_ids", None)
    if cached is None:
        cached = {id(n) for n in checked.aggregates}
        checked._agg_ids = cached
    return cached


def _check_key(key: str) -> str:
    """Keys are `^[a-z][a-z0-9_]*$` by the bundle's schema; checked again because they are spliced into SQL."""
    if not (key and key[0].isascii() and key[0].islower() and all(c.isascii() and (c.isalnum() or c == "_") for c in key)):
        raise Unsupported(0, f"`{key}` is not a plain key")
    return key

