"""Compiling checked expressions to Python functions.

We generate Python source from the *checked* tree — never from the admin's
text — and compile it once. Generated code reads record values from dicts,
keeps formulas and classifications in locals, evaluates every aggregate over
a child collection in one fused loop (sharing equal `where` conditions and
hoisting what does not depend on the child out of the loop), and compiles
conditions in "truth mode": SPEC §3.3's three-valued logic reduced to the
two questions a rule asks (is it true? is it false?), so that empty values
cost a single `is not None` test.
"""
from __future__ import annotations

import re

from . import ast
from . import runtime
from .functions import FUNCTIONS
from .scope import DATE, DATETIME, DURATION, NUMBER
from .typecheck import Checked, const_duration

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_HELPERS = {name: getattr(runtime, name) for name in (
    "div", "mod", "round_half_away", "to_integer", "to_money", "to_decimals", "to_text", "is_empty", "midnight",
    "local_date", "add_duration", "parse_date", "add_months", "mul_duration", "least", "greatest", "coalesce",
    "collect")}


class Module:
    """Globals shared by the functions compiled for one bundle: helpers, constants, timezone, calendar."""

    def __init__(self, tz, calendar):
        self.globals = dict(_HELPERS)
        self.globals["__builtins__"] = {"len": len, "abs": abs, "bool": bool, "zip": zip}
        self.globals["TZ"] = tz
        self.globals["CAL"] = calendar
        self._consts: dict = {}

    def const(self, value) -> str:
        key = (type(value).__name__, repr(value))
        name = self._consts.get(key)
        if name is None:
            name = f"K{len(self._consts)}"
            self._consts[key] = name
            self.globals[name] = value
        return name

    def compile(self, source: str, name: str):
        code = compile(source, f"<tierwise {name}>", "exec")
        local: dict = {}
        exec(code, self.globals, local)  # noqa: S102 - source generated from a checked tree, no admin text
        fn = local[name]
        fn.__tierwise_source__ = source
        return fn


class Body:
    """Lines of one generated function, with fresh temporaries."""

    def __init__(self, module: Module):
        self.module = module
        self.lines: list[str] = []
        self._n = 0
        #: aggregate text -> local name, for aggregates already computed
        self.aggregates: dict[str, str] = {}
        #: locals holding a child collection
        self.rows: set[str] = set()

    def temp(self, prefix="t") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def emit(self, line: str, depth: int = 1):
        self.lines.append("    " * depth + line)


class ExprGen:
    """Code for the nodes of one checked expression in one environment."""

    def __init__(self, body: Body, checked: Checked, env: dict, parent_env: dict | None = None,
                 old_env: dict | None = None, hoist: list | None = None):
        self.body = body
        self.module = body.module
        self.checked = checked
        self.env = env
        self.parent_env = parent_env
        self.old_env = old_env
        #: lines run before the loop, when generating inside an aggregate's loop
        self.hoist = hoist

    def info(self, node):
        return self.checked.info[id(node)]

    # -- value mode: the value, or None for empty ----------------------------
    def value(self, node) -> str:
        if self.hoist is not None and not self.info(node).child and not isinstance(node, (ast.Literal, ast.Name, ast.ListLit)):
            hoist, self.hoist = self.hoist, None
            try:
                code = self._value(node)
            finally:
                self.hoist = hoist
            name = self.body.temp("h")
            hoist.append(f"{name} = {code}")
            return name
        return self._value(node)

    def _value(self, node) -> str:
        return getattr(self, "v_" + type(node).__name__)(node)

    def literal(self, value) -> str:
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        return self.module.const(value)

    def v_Literal(self, node):
        return self.literal(node.value)

    def v_ListLit(self, node):
        if all(isinstance(i, ast.Literal) for i in node.items):
            return self.module.const(tuple(i.value for i in node.items))
        return "[" + ", ".join(self.value(i) for i in node.items) + "]"

    def v_Name(self, node):
        parts = node.parts
        if len(parts) == 1:
            return self.env[parts[0]]
        if parts[0] == "parent" and self.parent_env is not None:
            return self.parent_env[parts[1]]
        return self.old_env[parts[1]]

    def v_Call(self, node):
        if id(node) in self.checked.agg_names:
            return self.checked.agg_names[id(node)]
        if node.func == "if":
            c, a, b = node.args
            return f"({self.value(a)} if {self.truth(c)} else {self.value(b)})"
        fn = FUNCTIONS[node.func]
        types = [self.info(a).type for a in node.args]
        if not fn.strict:
            return fn.gen([self.value(a) for a in node.args], types)
        return self.strict(node.args, lambda codes: fn.gen(codes, types))

    def strict(self, nodes, build) -> str:
        conds, codes = [], []
        for n in nodes:
            code = self.value(n)
            if self.info(n).nullable:
                if not _SIMPLE.match(code):
                    t = self.body.temp()
                    conds.append(f"({t} := {code}) is None")
                    code = t
                else:
                    conds.append(f"{code} is None")
            codes.append(code)
        out = build(codes)
        return f"(None if {' or '.join(conds)} else {out})" if conds else out

    def v_Unary(self, node):
        if node.op == "not":
            return self.strict([node.operand], lambda c: f"(not {c[0]})")
        return self.strict([node.operand], lambda c: f"(-{c[0]})")

    def v_IsEmpty(self, node):
        code = self.value(node.operand)
        if isinstance(node.operand, ast.Name) or not self.info(node.operand).nullable:
            if isinstance(node.operand, ast.Name):
                return f"({code} is {'not ' if node.negate else ''}None)"
        return f"({'not ' if node.negate else ''}is_empty({code}))"

    def container(self, node) -> tuple[str, bool]:
        """Code of an `in` container, and whether it is a constant set."""
        if isinstance(node, ast.ListLit) and all(isinstance(i, ast.Literal) for i in node.items):
            return self.module.const(frozenset(i.value for i in node.items)), True
        code = self.value(node)
        if self.info(node).nullable:
            code = f"({code} or ())"
        return code, False

    def v_In(self, node):
        cont, _ = self.container(node.container)
        op = "not in" if node.negate else "in"
        return self.strict([node.item], lambda c: f"({c[0]} {op} {cont})")

    def v_Binary(self, node):
        op = node.op
        if op == "and" or op == "or":
            return self._logic(node)
        lt, rt = self.info(node.left).type, self.info(node.right).type
        if op in _NEGATE:
            return self.strict([node.left, node.right], lambda c: self._compare(op, c, lt, rt))
        rtype = self.info(node).type
        return self.strict([node.left, node.right], lambda c: self._arith(node, op, c, lt, rt, rtype))

    def _logic(self, node):
        a, b = self.body.temp(), self.body.temp()
        left, right = self.value(node.left), self.value(node.right)
        if node.op == "and":
            return (f"(False if ({a} := {left}) is False or ({b} := {right}) is False "
                    f"else (None if {a} is None or {b} is None else True))")
        return (f"(True if ({a} := {left}) is True or ({b} := {right}) is True "
                f"else (None if {a} is None or {b} is None else False))")

    def _compare(self, op, c, lt, rt):
        a, b = c
        if lt != rt and {lt, rt} == {DATE, DATETIME}:
            if lt == DATE:
                a = f"midnight({a}, TZ)"
            else:
                b = f"midnight({b}, TZ)"
        return f"({a} {op} {b})"

    def _arith(self, node, op, c, lt, rt, rtype):
        a, b = c
        if lt == NUMBER and rt == NUMBER:
            if op == "/":
                return f"div({a}, {b})"
            if op == "%":
                return f"mod({a}, {b})"
            return f"({a} {op} {b})"
        if op == "*":
            return f"mul_duration({a}, {b})" if lt == DURATION else f"mul_duration({b}, {a})"
        if lt == DATE and rt == DURATION:
            if rtype == DATE:
                return f"({a} {op} {b})"
            if const_duration(node.right) is not None:
                return f"(midnight({a}, TZ) {op} {b})"
            return f"add_duration({a}, {b if op == '+' else '-' + b}, TZ)"
        if op == "-" and lt != rt and {lt, rt} == {DATE, DATETIME}:
            if lt == DATE:
                a = f"midnight({a}, TZ)"
            else:
                b = f"midnight({b}, TZ)"
        return f"({a} {op} {b})"

    # -- truth mode: "does it hold?" (empty does not) ------------------------
    def truth(self, node) -> str:
        if isinstance(node, ast.Literal):
            return "True" if node.value is True else "False"
        if isinstance(node, ast.Binary):
            if node.op == "and":
                return f"({self.truth(node.left)} and {self.truth(node.right)})"
            if node.op == "or":
                return f"({self.truth(node.left)} or {self.truth(node.right)})"
            if node.op in _NEGATE:
                return self._decided_compare(node, node.op)
        if isinstance(node, ast.Unary) and node.op == "not":
            return self.falsity(node.operand)
        if isinstance(node, ast.In):
            return self._decided_in(node, not node.negate)
        if isinstance(node, ast.Call) and node.func == "if" and id(node) not in self.checked.agg_names:
            c, a, b = node.args
            return f"({self.truth(a)} if {self.truth(c)} else {self.truth(b)})"
        code = self.value(node)
        return f"({code} is True)" if self.info(node).nullable else code

    def falsity(self, node) -> str:
        if isinstance(node, ast.Literal):
            return "True" if node.value is False else "False"
        if isinstance(node, ast.Binary):
            if node.op == "and":
                return f"({self.falsity(node.left)} or {self.falsity(node.right)})"
            if node.op == "or":
                return f"({self.falsity(node.left)} and {self.falsity(node.right)})"
            if node.op in _NEGATE:
                return self._decided_compare(node, _NEGATE[node.op])
        if isinstance(node, ast.Unary) and node.op == "not":
            return self.truth(node.operand)
        if isinstance(node, ast.In):
            return self._decided_in(node, node.negate)
        if isinstance(node, ast.Call) and node.func == "if" and id(node) not in self.checked.agg_names:
            c, a, b = node.args
            return f"({self.falsity(a)} if {self.truth(c)} else {self.falsity(b)})"
        code = self.value(node)
        return f"({code} is False)" if self.info(node).nullable else f"(not {code})"

    def _operand(self, node, guards) -> str:
        code = self.value(node)
        if not self.info(node).nullable:
            return code
        if not _SIMPLE.match(code):
            t = self.body.temp()
            guards.append(f"({t} := {code}) is not None")
            return t
        guards.append(f"{code} is not None")
        return code

    def _decided_compare(self, node, op) -> str:
        lt, rt = self.info(node.left).type, self.info(node.right).type
        if op == "==" and lt == rt and not (self.info(node.left).nullable and self.info(node.right).nullable):
            # Empty never equals a value that is there: no guard needed.
            return f"({self.value(node.left)} == {self.value(node.right)})"
        guards: list[str] = []
        a = self._operand(node.left, guards)
        b = self._operand(node.right, guards)
        test = self._compare(op, (a, b), lt, rt)
        return "(" + " and ".join(guards + [test]) + ")"

    def _decided_in(self, node, want_in: bool) -> str:
        cont, is_set = self.container(node.container)
        op = "in" if want_in else "not in"
        if want_in and is_set:
            return f"({self.value(node.item)} in {cont})"  # None is never in a constant set
        guards: list[str] = []
        item = self._operand(node.item, guards)
        return "(" + " and ".join(guards + [f"{item} {op} {cont}"]) + ")"


# -- aggregates ---------------------------------------------------------------

def aggregate_deps(node: ast.Call) -> set[str]:
    """Names of the current record an aggregate reads through `parent.`."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and len(n.parts) == 2 and n.parts[0] == "parent":
            out.add(n.parts[1])
    return out


def emit_aggregates(body: Body, items: list, env: dict, record: str, depth: int = 1):
    """Emit one fused loop per child collection computing every aggregate in `items`.

    `items` holds (checked expression, aggregate node) pairs; each aggregate
    gets a local named in `checked.agg_names` (equal aggregates share one).
    """
    by_child: dict[str, list] = {}
    for checked, node in items:
        text = ast.unparse(node)
        if text in body.aggregates:
            checked.agg_names[id(node)] = body.aggregates[text]
            continue
        name = body.temp("a")
        body.aggregates[text] = name
        checked.agg_names[id(node)] = name
        by_child.setdefault(node.args[0].parts[0], []).append((checked, node, name))
    for child, aggs in by_child.items():
        rows = f"ch_{child}"
        if rows not in body.rows:
            body.rows.add(rows)
            body.emit(f"{rows} = {record}[{child!r}] or ()", depth)
        child_env = _ChildEnv()
        hoist: list[str] = []
        init: list[str] = []
        loop: list[str] = []
        post: list[str] = []
        where_codes: dict[str, list] = {}
        conds: dict[str, str] = {}
        for checked, node, _name in aggs:
            if node.where is None:
                continue
            key = ast.unparse(node.where)
            if key not in where_codes:
                gen = ExprGen(body, checked, child_env, env, hoist=hoist)
                where_codes[key] = [gen.truth(node.where), 0]
            where_codes[key][1] += 1
        for key, (code, uses) in where_codes.items():
            if uses > 1:
                w = body.temp("w")
                loop.append(f"{w} = {code}")
                conds[key] = w
            else:
                conds[key] = code
        for _checked, node, name in aggs:
            cond = conds[ast.unparse(node.where)] if node.where is not None else None
            func = node.func
            if func in ("count", "exists") and cond is None:
                post.append(f"{name} = len({rows})" if func == "count" else f"{name} = len({rows}) > 0")
                continue
            if func == "count":
                init.append(f"{name} = 0")
                loop.append(f"if {cond}: {name} += 1")
                continue
            if func == "exists":
                init.append(f"{name} = False")
                loop.append(f"if {cond}: {name} = True")
                continue
            field = node.args[0].parts[1]
            got = f"(x := c[{field!r}]) is not None"
            test = f"{cond} and {got}" if cond else got
            if func == "sum":
                init.append(f"{name} = 0")
                loop.append(f"if {test}: {name} += x")
            elif func == "avg":
                s, n = body.temp("s"), body.temp("n")
                init.append(f"{s} = 0; {n} = 0")
                loop.append(f"if {test}: {s} += x; {n} += 1")
                post.append(f"{name} = div({s}, {n}) if {n} else None")
            else:
                cmp = "<" if func == "min" else ">"
                init.append(f"{name} = None")
                loop.append(f"if {test} and ({name} is None or x {cmp} {name}): {name} = x")
        for line in hoist + init:
            body.emit(line, depth)
        if loop:
            body.emit(f"for c in {rows}:", depth)
            for line in loop:
                body.emit(line, depth + 1)
        for line in post:
            body.emit(line, depth)


class _ChildEnv(dict):
    """Names inside an aggregate's `where`: the child record's fields."""

    def __missing__(self, key):
        return f"c[{key!r}]"


def record_env(record: str = "r") -> dict:
    """Environment in which every name is read from the record dict `record`."""
    class Env(dict):
        def __missing__(self, key):
            return f"{record}[{key!r}]"
    return Env()


def compile_expression(module: Module, checked: Checked, name: str, *, mode: str = "value",
                       parent: bool = False, old: bool = False):
    """One standalone function ``f(r, today, now, p=None, o=None)`` for one expression.

    `mode` is ``value`` (the value or None), ``truth`` (holds?) or ``falsity``.
    The record `r` holds every field, formula and classification value; `p` is
    the parent record for a child object's expression; `o` the old values.
    """
    body = Body(module)
    checked.agg_names = {}
    env = record_env("r")
    emit_aggregates(body, [(checked, n) for n in checked.aggregates], env, "r")
    gen = ExprGen(body, checked, env, record_env("p") if parent else None, record_env("o") if old else None)
    code = {"value": gen.value, "truth": gen.truth, "falsity": gen.falsity}[mode](checked.tree)
    body.emit(f"return {code}")
    source = f"def {name}(r, today, now, p=None, o=None):\n" + "\n".join(body.lines) + "\n"
    return module.compile(source, name)

