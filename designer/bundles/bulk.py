"""Reclassifying every record in the database: set-based SQL instead of a loop in Python (issue #6).

A publish recomputes the formulas, classifications and explanations of every
top-level record. Reading a million customers and five million children
into Python to do that takes hours; the database can do it in a few passes.

`compile_object` turns one object's formulas and rules (through
`engine.expr.sqlgen`) into one SELECT giving, per record, the new `computed`
and `explain` JSON exactly as `engine.classify.Result` makes them:

- level 0 reads the records and LEFT JOINs their children's aggregates,
  grouped by parent in one pass over the children (an aggregate whose
  `where` reads `parent.` stays a correlated sub-query). The input fields
  the expressions read are taken out of the JSON once per row (`extract`);
- each further level adds the formulas, then rule hits and classification
  values, whose inputs the levels below hold, in dependency order. Levels
  are fenced with ``OFFSET 0`` so that neither SQLite nor PostgreSQL inlines
  a level into the next: every value is computed once per row however often
  the explanation reads it;
- the last level builds the JSON: which rule held (its index, label, text)
  and the values its condition read, the same structure as
  `Result.explain()`, so record pages, history and exports read it as
  before (tests/test_bulk_reclassify.py compares both paths record by
  record). The JSON is written as text (`_Printf`: printf() on SQLite,
  concat() on PostgreSQL, spelled as jsonb prints it), several times
  faster than the databases' JSON builders, and compared as text with
  what is stored.

`reclassify` runs it in chunks of ids, keeping in a temporary table only the
records whose values or explanations differ from what is stored, writes a
history row per changed classification with one ``INSERT ... SELECT`` per
classification, then updates those records with one ``UPDATE ... FROM``: a
record the new rules leave as it was keeps its row, its `version` and the
`bundle_version` that last changed it. An
object that SQL cannot express (see sqlgen's `Unsupported`), or whose SQL
the database refuses, is reclassified by the Python path instead, and the
publish report says which and why. Stored input values that no longer fit
their field (after a retype, or a select option removed) read as empty, as
`coerce` makes them.

Known differences from the Python evaluator: on SQLite (which has no exact
decimals) `avg()` and division are floating point, so a value on a rounding
boundary may round the other way (`sum()` of money is exact: it adds whole
cents); a stored multiselect list holding an option that was removed since
is read as it is, where `coerce` empties the whole list.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import repeat

from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine import codecs
from engine.bundle import SYSTEM_ATTRIBUTES
from engine.expr import ast
from engine.expr.scope import BOOL, DATETIME, NUMBER, TEXT
from engine.expr.sqlgen import Layout, SqlCompiler, Unsupported
from engine.fields import option_index

from ..imports.inserts import insert_rows
from ..models import Record, UtcDateTime
from ..records.store import children_of_many, recompute
from . import parallel
from .workspace import Current

#: Top-level records per SQL chunk: bounds the temporary table and paces `progress`.
CHUNK = 50_000
#: Top-level records per chunk when helper processes compute the chunks (`helpers`): the changed rows of
#: a chunk come back to this process, and a first classification changes every record.
HELPED_CHUNK = 10_000
#: Helper processes a publish job or `tierwise publish` runs beside its own connection (`helpers`).
HELPERS = min(4, os.cpu_count() or 1)
#: Records per batch on the Python path.
BATCH = 500
#: The temporary table a chunk's new values go through.
TEMP = "tw_bulk"
CAUSE = "rules published"
#: The temporary table as rows computed by helpers are inserted into it (JSON as text).
_TEMP = Table(TEMP, MetaData(), Column("id", Integer), Column("computed", Text), Column("explain", Text))
#: A range of ids: the `where` of `compile_object` for chunked runs.
RANGE = "{col} > :lo AND {col} <= :hi"


@dataclass
class ObjectSql:
    """One object's SELECT of (id, computed[, explain]) for the records its `where` keeps, as the text of
    a `sqlalchemy.text()` (colons in its literals are escaped); computed and explain are JSON texts (on
    PostgreSQL as jsonb prints them)."""

    object: str
    sql: str
    params: dict
    #: classification keys, for history rows
    keys: list = field(default_factory=list)


# -- compiling -----------------------------------------------------------------------------------


class _Text(str):
    """A piece of JSON text known when the SQL is written (a key, a rule's label): written into the SQL
    once, not passed or built again on every row."""


class _Printf:
    """A JSON text as literal pieces and SQL values (each already JSON text), written out only when the
    SQL is, so that an object nested in another joins its parent's expression.

    SQLite writes it with printf() (one call per classification branch rather than one per object and
    array in it, the labels in the format); PostgreSQL with concat(), the text parsed into jsonb once
    where it is stored, which is several times faster than nesting jsonb_build_object() calls, each
    of which copies what it is given."""

    ARGS = 100  # SQL values per call (SQLite allows 127 arguments, PostgreSQL 100)

    def __init__(self, parts: list, pg: bool):
        self.parts, self.pg = parts, pg

    @staticmethod
    def parts_of(value) -> list:
        return value.parts if isinstance(value, _Printf) else [value]

    def __str__(self) -> str:
        return self._concat() if self.pg else self._printf()

    def _runs(self) -> list:
        """The parts with neighbouring literal pieces joined: str for a literal, [sql] for a value."""
        out: list = []
        for part in self.parts:
            if isinstance(part, _Text):
                if out and isinstance(out[-1], str):
                    out[-1] += part
                else:
                    out.append(str(part))
            else:
                out.append([str(part)])
        return out

    def _printf(self) -> str:
        calls, fmt, args = [], "", []
        for run in self._runs():
            if isinstance(run, str):
                fmt += run.replace("%", "%%")
                continue
            if len(args) == self.ARGS:
                calls.append(f"printf({_literal(fmt)}, {', '.join(args)})")
                fmt, args = "", []
            fmt += "%s"
            args += run
        if args:
            calls.append(f"printf({_literal(fmt)}, {', '.join(args)})")
        elif fmt:
            calls.append(_literal(fmt.replace("%%", "%")))
        return "(" + " || ".join(calls or ["''"]) + ")"

    def _concat(self) -> str:
        """PostgreSQL: concat() sizes the text once, where a chain of || copies it again at every piece
        (the values are never NULL: json_of writes 'null')."""
        pieces = [_literal(run) if isinstance(run, str) else run[0] for run in self._runs()]
        while len(pieces) > self.ARGS:  # PostgreSQL allows 100 arguments
            pieces = [f"concat({', '.join(pieces[i:i + self.ARGS])})" for i in range(0, len(pieces), self.ARGS)]
        return f"concat({', '.join(pieces)})" if len(pieces) > 1 else (pieces[0] if pieces else "''")


class _Compiler(SqlCompiler):
    """sqlgen's compiler, reading the aggregates grouped at level 0 as columns of the row."""

    def __init__(self, checked, builder: _Builder, layout: Layout):
        b = builder
        super().__init__(checked, b.dialect, layout, b.bundle.module, today=b.today, now=b.now, tz=b.bundle.tz,
                         params=b.params)
        self.grouped = b.grouped

    def aggregate(self, node, layout: Layout) -> str:
        column = self.grouped.get(ast.unparse(node)) if layout.alias == "t" else None
        return column if column is not None else super().aggregate(node, layout)


class _Builder:
    """Builds the SELECT of one top-level object; every piece shares one parameter dict."""

    def __init__(self, bundle, dialect: str, now: datetime):
        self.bundle = bundle
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        local = now.astimezone(bundle.tz)
        self.today, self.now = local.date(), local
        self.params: dict = {}
        self._texts: dict = {}
        #: aggregate text -> SQL reading its grouped column
        self.grouped: dict = {}
        #: names the object's expressions mention: the input fields worth extracting once per row
        self.mentioned: set = set()
        #: SQLite, while the output JSON is built: JSON text of a value -> its column a level below
        self.quoted: dict | None = None

    # -- literals and JSON ---------------------------------------------------
    def text_param(self, value: str) -> str:
        name = self._texts.get(value)
        if name is None:
            name = self._texts[value] = f"t{len(self._texts)}"
            self.params[name] = value
        return f"CAST(:{name} AS text)" if self.pg else f":{name}"

    def lit(self, value) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return ("TRUE" if value else "FALSE") if self.pg else str(int(value))
        if isinstance(value, (int, Decimal)):
            return format(Decimal(value), "f")
        if isinstance(value, str):
            return self.text_param(value)
        raise Unsupported(0, f"a value of type {type(value).__name__}")

    def json_lit(self, value) -> str:
        """A constant JSON value: jsonb on PostgreSQL, its JSON text on SQLite."""
        p = self.text_param(codecs.dumps(value))
        return f"CAST({p} AS jsonb)" if self.pg else p

    def jconst(self, value):
        """A constant as a value inside a JSON object being built."""
        return _Text(codecs.dumps(value))

    def json_bool(self, value: bool):
        return _Text("true" if value else "false")

    # JSON is written as text, each value already JSON text (json_of): json_object() on SQLite escapes
    # every constant label again on every row, and PostgreSQL's nested jsonb_build_object() calls copy
    # each object into the next (see `_Printf`).
    # On PostgreSQL the text is the one jsonb prints (keys by length then bytes, ", " and ": "), so that
    # the stored jsonb, printed, compares with it as text: only the rows that changed are parsed.
    def obj(self, pairs: list[tuple[str, object]]):
        """A JSON object of (name, JSON value) pairs."""
        comma, colon = (", ", ": ") if self.pg else (",", ":")
        if self.pg:
            pairs = sorted(pairs, key=lambda kv: (len(kv[0].encode()), kv[0].encode()))
        parts: list = [_Text("{")]
        for n, (k, v) in enumerate(pairs):
            parts += [_Text((comma if n else "") + codecs.dumps(k) + colon), *_Printf.parts_of(v)]
        return _Printf(parts + [_Text("}")], self.pg)

    def arr(self, items: list):
        """A JSON array of JSON values."""
        comma = ", " if self.pg else ","
        parts: list = [_Text("[")]
        for n, v in enumerate(items):
            parts += ([_Text(comma)] if n else []) + _Printf.parts_of(v)
        return _Printf(parts + [_Text("]")], self.pg)

    def kept(self, items: list[tuple[str, str]]) -> str:
        """A JSON array of the items (JSON) whose condition holds, in order."""
        return self.joined(items) if items else self.arr([])

    def joined(self, items: list[tuple[str, str]]) -> str:
        """The text of a JSON array of the items (JSON texts) whose condition holds: '[a,c]' (or '[]')."""
        comma = ", " if self.pg else ","
        parts = " || ".join(f"COALESCE('{comma}' || CASE WHEN {cond} THEN {item} END, '')" for cond, item in items)
        return f"('[' || substr({parts}, {len(comma) + 1}) || ']')"

    def json_of(self, sql: str, type_: str) -> str:
        """A SQL value as the JSON text of the value `codecs.to_json` makes of the engine's value."""
        if self.pg:
            if type_ == DATETIME:  # ISO 8601 in UTC, microseconds only when there are some, as Python writes it
                utc = f"({sql}) AT TIME ZONE 'UTC'"
                out = (f"COALESCE(CASE WHEN date_trunc('second', {sql}) = ({sql}) "
                       f"THEN to_char({utc}, '\\\"YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\\\"') "
                       f"ELSE to_char({utc}, '\\\"YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\\\"') END, 'null')")
            elif type_ == NUMBER:  # 600000.60 -> 600000.6, as Python's normalised decimals are written
                out = f"COALESCE(CAST(trim_scale(CAST({sql} AS numeric)) AS text), 'null')"
            elif type_ == BOOL:
                out = f"(CASE WHEN ({sql}) IS NULL THEN 'null' WHEN ({sql}) THEN 'true' ELSE 'false' END)"
            elif type_.startswith("list:"):
                out = f"COALESCE(CAST({sql} AS text), 'null')"
            else:  # json (not jsonb) escapes the text straight into its output
                out = f"COALESCE(CAST(to_json({sql}) AS text), 'null')"
        elif type_ == BOOL:
            out = f"(CASE WHEN ({sql}) IS NULL THEN 'null' WHEN ({sql}) THEN 'true' ELSE 'false' END)"
        elif type_.startswith("list:"):
            out = f"COALESCE({sql}, 'null')"
        else:
            out = f"json_quote({sql})"
        if self.quoted is None:
            return out
        # While the final JSON is built, each value is made JSON once per row, a level below, however many
        # explanation branches and `read` objects write it.
        return f"t.{self.quoted.setdefault(out, f'jq{len(self.quoted)}')}"

    # -- where names live ------------------------------------------------------
    def field_sql(self, key: str, type_: str) -> str:
        """A stored input value, or NULL when it does not fit the field's type (as `coerce` makes it empty)."""
        if self.pg:
            return _pg_fitting(f"({{a}}.data -> '{key}')", f"({{a}}.data ->> '{key}')", type_)
        value = f"json_extract({{a}}.data, '$.{key}')"
        return _sqlite_fitting(value, f"json_type({{a}}.data, '$.{key}')", type_, value)

    def stamp(self, column: str) -> str:
        """`created_at` / `updated_at`: SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); stored JSON has ISO 8601."""
        if self.pg:
            return f"{{a}}.{column}"
        c = f"{{a}}.{column}"
        return (f"(replace(substr({c}, 1, 19), ' ', 'T') || CASE WHEN substr({c}, 20, 7) IN ('', '.000000') "
                f"THEN '' ELSE substr({c}, 20, 7) END || '+00:00')")

    def names(self, key: str, extracted: bool) -> dict:
        """Where each name of `key` lives: with `extracted`, the input fields any expression reads are the
        columns f_<key> (`extract`); otherwise they are read from the JSON where they are needed."""
        obj = self.bundle.objects[key]
        out = {"id": ("sql", f"CAST({{a}}.id AS {'text' if self.pg else 'TEXT'})"),
               "created_at": ("sql", self.stamp("created_at")), "updated_at": ("sql", self.stamp("updated_at"))}
        if obj.parent is None:
            out["owner"] = ("column", "owner")
        for k, f in obj.fields.items():
            if "formula" in f.spec:
                out[k] = ("column", f"v_{k}")
            elif extracted and k in self.mentioned:
                out[k] = ("column", f"f_{k}")
            else:
                out[k] = ("sql", self.options(self.field_sql(k, f.value_type), f))
        out.update({c.key: ("column", f"v_{c.key}") for c in self.bundle.classifications_of(key)})
        return out

    def extract(self, key: str, alias: str, base: str, columns: list[str]) -> str:
        """`base` (rows of `key` as `alias`: `columns` and `data`) as `columns` plus a typed column f_<field> per
        input field the expressions read; `data` stays behind. Each field's JSON is taken out once (j_;
        SQLite parses the whole text at every json_extract), behind a fence, and typed from that fragment
        behind another, so that a value read by several aggregates or rules is typed once per row."""
        fields = [f for k, f in self.bundle.objects[key].fields.items() if "formula" not in f.spec and k in self.mentioned]
        kept = ", ".join(f"{alias}.{c}" for c in columns)
        path = "'{}'" if self.pg else "'$.{}'"
        raw = "".join(f", {alias}.data -> {path.format(f.key)} AS j_{f.key}" for f in fields)
        typer = self.typed_jsonb if self.pg else self.typed_fragment
        typed = "".join(f", {typer(f'{alias}.j_{f.key}', f)} AS f_{f.key}" for f in fields)
        typed_rows = f"SELECT {kept}{typed} FROM (SELECT {kept}{raw} FROM ({base}) {alias}{self.fence()}) {alias}"
        # fenced too: each value typed once per row, however many aggregates and rules read it
        return f"SELECT * FROM ({typed_rows}{self.fence()}) {alias}"

    def options(self, sql: str, f) -> str:
        """A select field's stored value, NULL when it is no longer among the options (as `coerce` makes it)."""
        if f.type != "select" or not f.spec.get("options"):
            return sql
        values = ", ".join(self.text_param(v) for v in option_index(f.spec)[0])
        return f"(CASE WHEN {sql} IN ({values}) THEN {sql} END)"

    def typed_jsonb(self, j: str, f) -> str:
        """PostgreSQL: a field's value from its jsonb fragment, NULL when it does not fit the field (as
        field_sql and `options`)."""
        return self.options(_pg_fitting(j, f"({j} #>> '{{}}')", f.value_type), f)

    def typed_fragment(self, j: str, f) -> str:
        """SQLite: a field's value from its JSON fragment (`data -> '$.key'`), NULL when it does not fit the
        field (as field_sql and `options`).

        Most fields are recognised on the fragment's text, without a JSON function: a date is
        `"2026-11-03"`, a boolean `true`, a number starts with a digit or a minus sign (nothing else in
        JSON does), and a select option is its JSON spelling, as our writers spell it, mapped back to the
        option (so an option that is gone reads as empty)."""
        type_ = f.value_type
        digits = '"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
        if f.type == "select" and f.spec.get("options"):
            cases = " ".join(f"WHEN {_literal(codecs.dumps(v))} THEN {self.text_param(v)}"
                             for v in option_index(f.spec)[0])
            return f"(CASE {j} {cases} END)"
        if type_ == "date":
            return f"(CASE WHEN {j} GLOB '{digits}\"' THEN substr({j}, 2, 10) END)"
        if type_ == DATETIME:
            return f"(CASE WHEN {j} GLOB '{digits}T*\"' THEN json_extract({j}, '$') END)"
        if type_ == BOOL:
            return f"(CASE {j} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
        if type_ == NUMBER:
            return f"(CASE WHEN {j} GLOB '[0-9-]*' THEN {j} + 0 END)"
        return self.options(_sqlite_fitting(f"json_extract({j}, '$')", f"json_type({j})", type_, j), f)

    def type_of(self, key: str, name: str) -> str:
        obj = self.bundle.objects[key]
        if name in obj.fields:
            return obj.fields[name].value_type
        for c in self.bundle.classifications_of(key):
            if c.key == name:
                return c.type
        return SYSTEM_ATTRIBUTES.get(name, TEXT)

    # -- levels ----------------------------------------------------------------
    def fence(self) -> str:
        return " OFFSET 0" if self.pg else " LIMIT -1 OFFSET 0"

    def levels(self, key: str, base: str, layout: Layout, fenced: bool, hits: bool = False) -> str:
        """`base` with a column per formula (v_), classification value (v_) and, with `hits` (what the
        explanation reads), rule hit (h_), in dependency order."""
        obj = self.bundle.objects[key]
        level: dict = {}
        items: list[tuple[int, str]] = []

        def after(checked_list) -> int:
            names = {n.parts[-1] for chk in checked_list for n in ast.walk(chk.tree) if isinstance(n, ast.Name)}
            return max((level[n] for n in names if n in level), default=0) + 1

        for fk in obj.formula_order:
            f = obj.fields[fk]
            level[fk] = after([f.formula])
            value = _Compiler(f.formula, self, layout).sql(f.formula.tree, layout, None)
            items.append((level[fk], f"{self.normalize(value, f)} AS v_{fk}"))
        for c in self.bundle.classifications_of(key):
            at = after([r.when for r in c.rules])
            conds = [_Compiler(r.when, self, layout).sql(r.when.tree, layout, None) for r in c.rules]
            if hits and c.hit == "first" and conds:
                cases = " ".join(f"WHEN {cond} THEN {i}" for i, cond in enumerate(conds))
                items.append((at, f"CASE {cases} ELSE -1 END AS h_{c.key}"))
            elif hits:
                items += [(at, f"CASE WHEN {cond} THEN 1 ELSE 0 END AS h_{c.key}_{i}") for i, cond in enumerate(conds)]
            level[c.key] = at
            items.append((at, f"{self.value(c, conds)} AS v_{c.key}"))
        sql = base
        alias = layout.alias
        for n in sorted({lv for lv, _ in items}):
            columns = ", ".join(col for lv, col in items if lv == n)
            sql = f"SELECT {alias}.*, {columns} FROM ({sql}{self.fence() if fenced else ''}) {alias}"
        return sql

    def normalize(self, sql: str, f) -> str:
        """A formula's value as its field keeps it (to_money, to_integer, to_decimals, to_text)."""
        decimals = f.spec.get("decimals") if f.type in ("number", "percent") else None
        digits = 2 if f.type == "money" else 0 if f.type == "integer" else decimals
        if digits is not None:
            if self.pg:
                rounded = f"ROUND(CAST({sql} AS numeric), {int(digits)})"
                return f"CAST({rounded} AS bigint)" if f.type == "integer" else rounded
            return f"CAST(ROUND({sql}) AS INTEGER)" if f.type == "integer" else f"ROUND({sql}, {int(digits)})"
        if f.type in ("text", "textarea"):
            return f"(CASE WHEN TRIM({sql}) = '' THEN NULL ELSE {sql} END)"
        return sql

    def value(self, c, conds: list[str]) -> str:
        """A classification's value from its rules' conditions (beside the hit columns, in the same level:
        a condition costs less again than a level more)."""
        if c.hit == "first":
            if not conds:
                return self.lit(c.default)
            cases = " ".join(f"WHEN {cond} THEN {self.lit(r.value)}" for cond, r in zip(conds, c.rules))
            return f"CASE {cases} ELSE {self.lit(c.default)} END"
        if c.hit == "sum":
            terms = [self.lit(c.base)] + [f"(CASE WHEN {cond} THEN {self.lit(r.points)} ELSE 0 END)"
                                          for cond, r in zip(conds, c.rules)]
            return "(" + " + ".join(terms) + ")"
        default = "NULL" if c.default is None else self.json_lit(c.default)
        if not conds:
            return default
        items = []  # a value is listed where the first rule giving it holds (runtime.collect)
        for i, r in enumerate(c.rules):
            earlier = [f"({conds[j]}) IS NOT TRUE" for j in range(i) if c.rules[j].value == r.value]
            items.append((" AND ".join([f"({conds[i]})"] + earlier), self.text_param(codecs.dumps(r.value))))
        listed = f"NULLIF({self.joined(items)}, '[]')"
        return f"COALESCE({f'CAST({listed} AS jsonb)' if self.pg else listed}, {default})"

    # -- the object ----------------------------------------------------------
    def child_table(self, key: str, where: str | None) -> str:
        """The child rows with their own formulas and classifications (what a parent's aggregates read).

        With `where` (on the parent id), for the grouped pass: the read fields extracted once per row.
        Without, for sub-queries correlated with one parent row: plain, so the parent_id index serves it."""
        obj = self.bundle.objects[key]
        if where is not None:  # only the columns some expression reads travel through the levels
            columns = ["parent_id"] + [c for c in ("id", "created_at", "updated_at") if c in self.mentioned]
            base = self.extract(key, "c", f"SELECT {', '.join(f'c.{c}' for c in columns)}, c.data FROM records c "
                                f"WHERE c.object = '{key}' AND {where.format(col='c.parent_id')}", columns)
        elif not obj.formula_order and not self.bundle.classifications_of(key):
            return "records"
        else:
            base = (f"SELECT c.id, c.parent_id, c.object, c.data, c.created_at, c.updated_at FROM records c "
                    f"WHERE c.object = '{key}'")
        return "(" + self.levels(key, base, Layout(self.names(key, where is not None), alias="c"), fenced=False) + ")"

    def group(self, key: str, layout: Layout, grouped_names: dict) -> dict[str, list[str]]:
        """Aggregates of the object's expressions, grouped by child object: child key -> select items."""
        obj = self.bundle.objects[key]
        exprs = [obj.fields[k].formula for k in obj.formula_order]
        exprs += [r.when for c in self.bundle.classifications_of(key) for r in c.rules]
        out: dict[str, list[str]] = {}
        seen = set()
        for checked in exprs:
            for node in checked.aggregates:
                label = ast.unparse(node)
                if label in seen or any(isinstance(n, ast.Name) and n.parts[0] == "parent" for n in ast.walk(node)):
                    continue  # done, or correlated with its parent row: sqlgen's sub-query
                seen.add(label)
                child = node.args[0].parts[0]
                comp = _Compiler(checked, self, layout)
                ch = Layout(grouped_names[child], alias="ch")
                cond = comp.sql(node.where, ch, None) if node.where is not None else None
                if node.func in ("count", "exists"):
                    agg = f"COUNT(CASE WHEN {cond} THEN 1 END)" if cond else "COUNT(*)"
                else:
                    name = node.args[0].parts[1]
                    value = comp.access(ch, name, comp.info(node.args[0]).type, node)
                    cents = (not self.pg and node.func == "sum"
                             and getattr(self.bundle.objects[child].fields.get(name), "type", None) == "money")
                    if cents:  # exact on SQLite too: whole cents add up without float error
                        value = f"CAST(ROUND({value} * 100) AS INTEGER)"
                    agg = f"{node.func.upper()}({f'CASE WHEN {cond} THEN {value} END' if cond else value})"
                    if cents:
                        agg = f"({agg} / 100.0)"
                column = f"a{len(self.grouped)}"
                out.setdefault(child, []).append(f"{agg} AS {column}")
                ref = f"t.{column}"
                self.grouped[label] = {"count": f"COALESCE({ref}, 0)", "sum": f"COALESCE({ref}, 0)",
                                       "exists": f"(COALESCE({ref}, 0) > 0)"}.get(node.func, ref)
        return out

    def select(self, key: str, where: str, explain: bool | None, stored: bool = False,
               was: tuple = ()) -> ObjectSql:
        obj = self.bundle.objects[key]
        self.mentioned = _mentioned(self.bundle, key)
        children = {ck: Layout(self.names(ck, False), alias="ch", table=self.child_table(ck, None))
                    for ck in obj.children}
        layout = Layout(self.names(key, True), children, alias="t")
        grouped = self.group(key, layout, {ck: self.names(ck, True) for ck in obj.children})
        joins, columns = [], ["id", "owner", "created_at", "updated_at"]
        selected = [f"r.{c}" for c in columns] + ["r.data"]
        if stored:  # what the row holds now, carried up from the row already read (see compile_object)
            columns += ["was_computed", "was_explain"]
            selected += ["r.computed AS was_computed", "r.explain AS was_explain"]
        for i, k in enumerate(was):  # small values, carried up from the row read anyway (see compile_object)
            value = (f"CAST(NULLIF(r.computed -> '{k}', 'null'::jsonb) AS text)" if self.pg
                     else f"json_extract(r.computed, '$.{k}')")
            columns.append(f"w{i}")
            selected.append(f"{value} AS w{i}")
        for ck, items in grouped.items():
            joins.append(f"LEFT JOIN (SELECT ch.parent_id AS pid, {', '.join(items)} FROM {self.child_table(ck, where)} "
                         f"ch GROUP BY ch.parent_id) g_{ck} ON g_{ck}.pid = r.id")
            aggregates = [item.rsplit(" AS ", 1)[1] for item in items]
            columns += aggregates
            selected += [f"g_{ck}.{a}" for a in aggregates]
        base = (f"SELECT {', '.join(selected)} FROM records r {' '.join(joins)} "
                f"WHERE r.object = '{key}' AND {where.format(col='r.id')}")
        chain = self.levels(key, self.extract(key, "t", base, columns), layout, fenced=True, hits=bool(explain))
        classes = self.bundle.classifications_of(key)
        values = [(fk, obj.fields[fk].value_type) for fk in obj.formula_order] + [(c.key, c.type) for c in classes]
        if explain is None:  # the classifications' values only, as columns c_<key> (SQL values; jsonb on PostgreSQL)
            out = ["t.id AS id"] + [f"{f'to_jsonb(t.v_{c.key})' if self.pg else f't.v_{c.key}'} AS c_{c.key}"
                                    for c in classes] + [f"t.w{i} AS w{i}" for i in range(len(was))]
            return ObjectSql(key, f"SELECT {', '.join(out)} FROM ({chain}{self.fence()}) t", self.params,
                             [c.key for c in classes])
        self.quoted = {}
        computed = self.obj([(k, self.json_of(f"t.v_{k}", t)) for k, t in values])
        out = ["t.id AS id", f"{computed} AS computed"]
        if stored:
            out += ["t.was_computed AS was_computed", "t.was_explain AS was_explain"]
        if explain:
            explained = self.obj([(c.key, self.explain(key, c, layout)) for c in classes])
            out.append(f"{explained} AS explain")
        if self.quoted:
            chain = (f"SELECT t.*, {', '.join(f'{sql} AS {col}' for sql, col in self.quoted.items())} "
                     f"FROM ({chain}{self.fence()}) t")
        self.quoted = None
        sql = f"SELECT {', '.join(out)} FROM ({chain}{self.fence()}) t"
        return ObjectSql(key, sql, self.params, [c.key for c in classes])

    # -- explanations --------------------------------------------------------
    def reads(self, key: str, c, rule, layout: Layout) -> list[tuple[str, str]]:
        """(JSON key, JSON value) of what one rule's condition read: names, then aggregates by their text."""
        names, texts = self.bundle.classifier(key).rule_reads[(c.key, rule.index)]
        comp = _Compiler(rule.when, self, layout)
        out = [(n, self.json_of(comp.access(layout, n, self.type_of(key, n), rule.when.tree),
                                          self.type_of(key, n))) for n in names]
        nodes = {ast.unparse(n): n for n in rule.when.aggregates}
        for label in texts:
            node = nodes[label]
            out.append((label, self.json_of(comp.sql(node, layout, None), comp.info(node).type)))
        return out

    def explain(self, key: str, c, layout: Layout) -> str:
        """`Result.explain()[c.key]` in SQL."""
        value = self.json_of(f"t.v_{c.key}", c.type)
        reads = [self.reads(key, c, r, layout) for r in c.rules]

        def union(parts):
            merged: dict = {}
            for pairs in parts:
                merged.update(pairs)
            return self.obj(list(merged.items()))

        def rule_json(i):
            r = c.rules[i]
            pairs = [("index", self.jconst(int(r.index))), ("label", self.jconst(r.label)),
                     ("when", self.jconst(r.when.source)),
                     ("read", self.obj(reads[i]))]
            if c.hit == "sum":
                pairs.append(("points", self.jconst(r.points)))
            return self.obj(pairs)

        def entry(rules: str, default: bool, read: str):
            return self.obj([("value", value), ("rules", rules), ("default", self.json_bool(default)), ("read", read)])

        if c.hit != "first":
            held = self.kept([(f"t.h_{c.key}_{i} = 1", rule_json(i)) for i in range(len(c.rules))])
            return entry(held, False, union(reads))
        if not c.rules:
            return entry(self.arr([]), True, self.obj([]))
        cases = " ".join(f"WHEN {i} THEN {entry(self.arr([rule_json(i)]), False, union(reads[:i + 1]))}"
                         for i in range(len(c.rules)))
        return f"(CASE t.h_{c.key} {cases} ELSE {entry(self.arr([]), True, union(reads))} END)"


def _mentioned(bundle, key: str) -> set[str]:
    """Every name the expressions of `key` and of its children mention (a superset of the fields they read)."""
    exprs = []
    for k in [key] + bundle.objects[key].children:
        obj = bundle.objects[k]
        exprs += [obj.fields[f].formula for f in obj.formula_order]
        exprs += [r.when for c in bundle.classifications_of(k) for r in c.rules]
    return {part for checked in exprs for n in ast.walk(checked.tree) if isinstance(n, ast.Name) for part in n.parts}


def compile_object(bundle, key: str, dialect: str, now: datetime, *, where: str = RANGE,
                   explain: bool | None = True, stored: bool = False, was: tuple = ()) -> ObjectSql:
    """The SELECT of (id, computed[, explain]) for the records of top-level object `key` that `where` keeps;
    with `explain` None, of (id, c_<classification>...): the values alone, for counting, and with `was`
    (classification keys, values only) the stored value of each as w0, w1...: JSON text on PostgreSQL,
    as `json_extract` reads it on SQLite, read from the row the SELECT reads anyway rather than by a
    second look-up of each record by id.

    With `stored`, each row also carries the record's stored `computed` and `explain` as `was_computed` and
    `was_explain`, read from the row the SELECT reads anyway: comparing with them needs no second look-up
    of each record by id (on PostgreSQL that look-up cost about a sixth of a chunk's SELECT in
    benchmarks/bulk.py). SQLite copies each value at every fenced level, so `reclassify` reads them by id there.

    `where` is a condition with `{col}` for the record id (default: ids in :lo .. :hi).
    Raises `Unsupported` when an expression has no exact SQL form here.
    """
    return _Builder(bundle, dialect, now).select(key, where, explain, stored, was)


# -- running -----------------------------------------------------------------------------------


def reclassify(session: Session, cur: Current, now: datetime, progress=None, helpers: int = 0) -> dict:
    """Reclassify every top-level record under `cur` (history cause `rules published`).

    Returns the publish report's part: ``{"reclassified": records changed, "sql": [objects done in SQL],
    "python": {object: why it fell back}}``. `progress(done, total)` is called after each chunk or batch.
    `helpers`: processes that compute the chunks of an object of more than `parallel.FEW` records beside
    this connection (`bundles.parallel`); they read the committed rows, so only a transaction that has
    written no records may ask for them.
    """
    bundle = cur.bundle
    dialect = session.get_bind().dialect.name
    tops = [k for k, o in bundle.objects.items() if o.parent is None]
    total = session.scalar(select(func.count()).select_from(Record).where(Record.object.in_(tops))) or 0
    state = {"done": 0}

    def step(n):
        state["done"] += n
        if progress:
            progress(state["done"], total)

    plans, fallback = {}, {}
    for key in tops:
        try:
            plans[key] = compile_object(bundle, key, dialect, now, stored=dialect == "postgresql")
        except Unsupported as exc:
            fallback[key] = f"SQL cannot express {exc.what} (column {exc.column})"
    changed = 0
    done_sql = []
    if plans:
        _create_temp(session, dialect)
        with tuned(session):
            for key, plan in plans.items():
                before = state["done"]
                try:
                    with session.begin_nested():
                        changed_here = _run(session, plan, cur, now, dialect, step, helpers)
                except DBAPIError as exc:
                    state["done"] = before
                    fallback[key] = f"the database refused the SQL: {str(exc.orig).splitlines()[0]}"
                    continue
                changed += changed_here
                done_sql.append(key)
        session.execute(text(f"DROP TABLE IF EXISTS {TEMP}"))
    session.expire_all()
    for key in fallback:
        changed += reclassify_python(session, cur, now, [key], step)
    return {"reclassified": changed, "sql": done_sql, "python": fallback}


#: `tuned`'s settings, by dialect (SQLite's mmap is capped by the library's build)
SETTINGS = {"postgresql": {"max_parallel_workers_per_gather": "0", "jit": "off", "work_mem": "64MB"},
            "sqlite": {"cache_size": "-262144", "mmap_size": str(1 << 34), "wal_autocheckpoint": "10000"}}


@contextmanager
def tuned(session: Session):
    """This connection's settings for bulk statements while they run; set back afterwards.

    SQLite: a page cache of up to 256 MB (the default 2 MB makes every pass over the records read its
    pages again), the file memory-mapped (pages read in place rather than copied out of the OS
    cache: a few per cent on a million records), and the write-ahead log copied back into the file
    when it passes 40 MB rather than 4 MB, so that a page written by many commits in a row (an index's,
    as an import commits batch after batch) is copied back once, not after each (a third of the time
    an import's commits took at 100,000 rows).

    PostgreSQL: no parallel workers, as each worker computes the children's grouped aggregates whole
    for its share of the records (three times the work on two cores), no JIT, whose compilation of
    the generated expressions costs more than it saves on a chunk, and 64 MB to sort and hash in: with
    the default 4 MB the children's grouping spills to disk at 100,000 customers (a sort of the orders,
    the hashed visits in five batches)."""
    before = {}
    for name, value in SETTINGS[session.get_bind().dialect.name].items():
        before[name] = _setting(session, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            _setting(session, name, value)


def _setting(session: Session, name: str, value: str) -> str:
    """Set one connection setting (PostgreSQL: for this transaction); its value before."""
    if session.get_bind().dialect.name == "postgresql":
        was = session.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar()
        session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
        return was
    was = session.execute(text(f"PRAGMA {name}")).scalar()
    session.execute(text(f"PRAGMA {name} = {int(value)}"))
    return str(was if was is not None else 0)


def _create_temp(session: Session, dialect: str):
    if dialect == "postgresql":
        session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {TEMP} (id bigint PRIMARY KEY, computed jsonb, "
                             f"explain jsonb) ON COMMIT DROP"))
    else:
        session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {TEMP} (id INTEGER PRIMARY KEY, computed TEXT, explain TEXT)"))
    session.execute(text(f"DELETE FROM {TEMP}"))


def _run(session: Session, plan: ObjectSql, cur: Current, now: datetime, dialect: str, step, helpers: int) -> int:
    """Chunk by chunk: the records whose values or explanations change into the temporary table, their
    history rows, then the records themselves.

    Only what changes is written. After most publishes a few records in a hundred move; rewriting every
    record (its row, its expression indexes) to stamp the new version costs more than computing them all,
    and would bump every record's `version`, so that a rep saving a form opened before the publish would
    be told the record changed under them when nothing did. The new texts are compared with the stored
    ones as the chunk is computed (PostgreSQL prints the stored jsonb, which the new texts are spelled as;
    SQLite compares the texts, so a record last written by the Python path, whose numbers are spelled
    differently, is rewritten once).

    With `helpers` and more than `parallel.FEW` records, helper processes compute chunks of `HELPED_CHUNK`
    records ahead (the same SELECT) and their changed rows are inserted into the temporary table here; a
    chunk no helper computed is computed here, as without them."""
    pg = dialect == "postgresql"
    at = bindparam("at", now, type_=UtcDateTime())
    version = cur.version
    distinct = "IS DISTINCT FROM" if pg else "IS NOT"
    history = []
    for k in plan.keys:
        if pg:
            old, new = f"NULLIF(r.computed -> '{k}', 'null'::jsonb)", f"NULLIF(b.computed -> '{k}', 'null'::jsonb)"
            differs, explain = f"{old} IS DISTINCT FROM {new}", f"COALESCE(b.explain -> '{k}', '{{}}'::jsonb)"
        else:
            old, new = f"r.computed -> '$.{k}'", f"b.computed -> '$.{k}'"
            differs = f"json_extract(r.computed, '$.{k}') IS NOT json_extract(b.computed, '$.{k}')"
            explain = f"COALESCE(b.explain -> '$.{k}', '{{}}')"
        history.append(text(f"INSERT INTO classification_history (record_id, key, old, new, at, cause, explain, "
                            f"bundle_version) SELECT b.id, '{k}', {old}, {new}, :at, :cause, {explain}, :v "
                            f"FROM {TEMP} b CROSS JOIN records r "  # CROSS: SQLite walks the few changed
                            f"WHERE r.id = b.id AND r.computed {distinct} b.computed AND {differs}")  # ones, not records
                       .bindparams(at))
    update = text(f"UPDATE records SET computed = b.computed, explain = b.explain, bundle_version = :v, "
                  f"version = records.version + 1 FROM {TEMP} b WHERE records.id = b.id "
                  f"AND records.id IN (SELECT id FROM {TEMP})")  # else SQLite walks every record to find them
    if pg:  # the stored jsonb, carried up with the row (`stored`), printed beside the new texts: only what
        # changed is parsed into jsonb
        where = ("WHERE CAST(n.was_computed AS text) IS DISTINCT FROM n.computed "
                 "OR CAST(n.was_explain AS text) IS DISTINCT FROM n.explain")
        fill = text(f"INSERT INTO {TEMP} (id, computed, explain) SELECT n.id, CAST(n.computed AS jsonb), "
                    f"CAST(n.explain AS jsonb) FROM ({plan.sql}) n {where}")
        changes = f"SELECT n.id, n.computed, n.explain FROM ({plan.sql}) n {where}"
    else:  # SQLite copies every value a fenced level passes on: each stored record is read by its id instead
        changes = (f"SELECT n.id, n.computed, n.explain FROM ({plan.sql}) n CROSS JOIN records r "  # CROSS: new
                   f"WHERE r.id = n.id AND (r.computed IS NOT n.computed OR r.explain IS NOT n.explain)")  # first
        fill = text(f"INSERT INTO {TEMP} (id, computed, explain) {changes}")
    first, last, count = extent(session, plan.object)
    if not count:
        return 0
    url = parallel.url_of(session) if helpers > 0 and count > parallel.FEW else None
    width = last - first + 1
    ranges = id_ranges(first, last, count, CHUNK if url is None else HELPED_CHUNK)
    changed = done = 0
    with nullcontext() if url is None else parallel.Helpers(url, helpers, SETTINGS) as side:
        computed = repeat(None) if side is None else \
            side.chunks(changes, [{**plan.params, "lo": lo, "hi": hi} for lo, hi in ranges])
        for (lo, hi), rows in zip(ranges, computed):
            session.execute(text(f"DELETE FROM {TEMP}"))
            if rows is None:
                session.execute(fill, {**plan.params, "lo": lo, "hi": hi})
            else:
                insert_rows(session, _TEMP, [{"id": i, "computed": c, "explain": e} for i, c, e in rows])
            if pg:  # its size, for the joins that read it (PostgreSQL keeps no statistics on a new temp table)
                session.execute(text(f"ANALYZE {TEMP}"))
            for statement in history:
                session.execute(statement, {"cause": CAUSE, "v": version})
            changed += session.execute(update, {"v": version}).rowcount
            now_done = count * (hi - first + 1) // width  # progress by id position: ends at `count` exactly
            step(now_done - done)
            done = now_done
    return changed


def extent(session: Session, obj: str) -> tuple[int, int, int]:
    """(lowest id, highest id, records) of the object's records, from its index alone."""
    return tuple(session.execute(text("SELECT MIN(id), MAX(id), COUNT(*) FROM records WHERE object = :o"),
                                 {"o": obj}).one())


def id_ranges(first: int, last: int, count: int, per: int) -> list[tuple[int, int]]:
    """(lo, hi] id ranges of about `per` of the `count` records between ids `first` and `last` (`RANGE`'s
    :lo and :hi), cut by id alone: finding the exact 50,000th id would read every row up to it (their
    `object` is in the row), a tenth of a chunk's work."""
    span = max(1, -(-(last - first + 1) * per // count))
    return [(lo, min(lo + span, last)) for lo in range(first - 1, last, span)]


def reclassify_python(session: Session, cur: Current, now: datetime, objects: list[str], step=None,
                      limit: int | None = None) -> int:
    """The per-record path (the fallback): records of `objects`, children read a batch at a time.

    `limit` stops after that many records (a benchmark times a sample of them)."""
    changed = done = 0
    last = 0
    while limit is None or done < limit:
        size = BATCH if limit is None else min(BATCH, limit - done)
        batch = session.scalars(select(Record).where(Record.object.in_(objects), Record.id > last)
                                .order_by(Record.id).limit(size)).all()
        if not batch:
            return changed
        by_object: dict[str, list[Record]] = {}
        for record in batch:
            by_object.setdefault(record.object, []).append(record)
        for key, records in by_object.items():
            kids = children_of_many(session, [r.id for r in records], cur.bundle.objects[key].children)
            for record in records:
                changed += recompute(session, cur, record, CAUSE, now, kids[record.id], plan=False)
        last = batch[-1].id
        done += len(batch)
        session.flush()
        session.expunge_all()
        if step:
            step(len(batch))
    return changed


def _literal(value: str) -> str:
    """A string literal in the text of a `sqlalchemy.text()` statement (a colon is not a parameter)."""
    return "'" + value.replace("'", "''").replace(":", "\\:") + "'"


def _pg_fitting(raw: str, txt: str, type_: str) -> str:
    """PostgreSQL: the value of jsonb `raw` (`txt`: its text), NULL when it does not fit the field's type;
    numbers and booleans cast from jsonb without a detour through text."""
    if type_ in (NUMBER, BOOL):
        kind, cast = ("number", "numeric") if type_ == NUMBER else ("boolean", "boolean")
        return f"(CASE WHEN jsonb_typeof({raw}) = '{kind}' THEN CAST({raw} AS {cast}) END)"
    digits = "^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    if type_ == "date":
        return f"(CASE WHEN {txt} ~ '{digits}$' THEN CAST({txt} AS date) END)"
    if type_ == DATETIME:
        return f"(CASE WHEN {txt} ~ '{digits}T' THEN CAST({txt} AS timestamptz) END)"
    if type_.startswith("list:"):
        return f"(CASE WHEN jsonb_typeof({raw}) = 'array' THEN {raw} END)"
    return txt


def _sqlite_fitting(value: str, kind: str, type_: str, array: str) -> str:
    """SQLite: `value` (of JSON type `kind`), NULL when it does not fit the field's type; a list yields `array`."""
    digits = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    guard = {NUMBER: f"{kind} IN ('integer', 'real')", BOOL: f"{kind} IN ('true', 'false')",
             "date": f"{kind} = 'text' AND {value} GLOB '{digits}'",
             DATETIME: f"{kind} = 'text' AND {value} GLOB '{digits}T*'"}
    if type_.startswith("list:"):
        return f"(CASE WHEN {kind} = 'array' THEN {array} END)"
    return f"(CASE WHEN {guard[type_]} THEN {value} END)" if type_ in guard else value
