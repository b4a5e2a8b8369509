"""Type checking of parsed expressions against a scope (SPEC §3.2).

The checker annotates every node with its type and whether it may be empty,
and records what the expression reads (for explanations and dependency
order). It raises `ExpressionError` located at the column of the fault.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import timedelta

from ..errors import ExpressionError
from . import ast
from .functions import FUNCTIONS
from .parser import AGGREGATES
from .scope import BOOL, DATE, DATETIME, DURATION, NULL, NUMBER, TEXT, Scope, Var

_ORDERED = {NUMBER, TEXT, DATE, DATETIME, DURATION, BOOL}
_TIMES = {DATE, DATETIME}


@dataclass
class Info:
    type: str
    nullable: bool
    #: the node reads child fields (inside an aggregate's where or argument)
    child: bool = False


@dataclass
class Checked:
    """A checked expression: the tree, its node annotations and what it reads."""

    source: str
    tree: ast.Node
    type: str
    info: dict = field(default_factory=dict)
    #: names of the current record read, in first-read order
    reads: list = field(default_factory=list)
    #: aggregate nodes, in first-read order
    aggregates: list = field(default_factory=list)
    #: names read through ``parent.`` (inside a child's expression)
    parent_reads: list = field(default_factory=list)
    #: names read through ``old.``
    old_reads: list = field(default_factory=list)
    #: reads today() / now()
    uses_clock: bool = False
    scope: Scope | None = None
    #: id(aggregate node) -> local name, filled by the code generator
    agg_names: dict = field(default_factory=dict)

    def node_type(self, node) -> str:
        return self.info[id(node)].type


def suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def check(source: str, tree: ast.Node, scope: Scope) -> Checked:
    out = Checked(source, tree, NULL, scope=scope)
    out.type = _Checker(out, scope).visit(tree, scope, False).type
    return out


class _Checker:
    def __init__(self, out: Checked, scope: Scope):
        self.out = out
        self.root = scope

    def note(self, node, type_, nullable, child=False) -> Info:
        info = Info(type_, nullable, child)
        self.out.info[id(node)] = info
        return info

    def visit(self, node, scope: Scope, in_child: bool) -> Info:
        method = getattr(self, "v_" + type(node).__name__)
        return method(node, scope, in_child)

    # -- leaves ------------------------------------------------------------
    def v_Literal(self, node, scope, in_child):
        v = node.value
        if v is None:
            return self.note(node, NULL, True)
        if isinstance(v, bool):
            return self.note(node, BOOL, False)
        if isinstance(v, str):
            return self.note(node, TEXT, False)
        if isinstance(v, timedelta):
            return self.note(node, DURATION, False)
        return self.note(node, NUMBER, False)

    def v_ListLit(self, node, scope, in_child):
        elem = None
        nullable_items = False
        child = False
        for item in node.items:
            info = self.visit(item, scope, in_child)
            child |= info.child
            if info.type == NULL or info.type.startswith("list:"):
                raise ExpressionError("type", item.col, "a list holds values such as 'text' or numbers, not empty or lists")
            if elem is None:
                elem = info.type
            elif not _same(elem, info.type):
                raise ExpressionError("type", item.col, f"this list mixes {elem} and {info.type}; use one type")
            nullable_items |= info.nullable
        return self.note(node, f"list:{elem or 'any'}", False, child)

    def v_Name(self, node, scope: Scope, in_child):
        parts = node.parts
        head = parts[0]
        if len(parts) == 1:
            var = scope.names.get(head)
            if var is None:
                self._unknown_name(node, scope)
            self._read(var, scope, in_child, "name")
            return self.note(node, var.type, True, in_child)
        if len(parts) == 2 and head == "parent" and scope.parent is not None:
            var = scope.parent.get(parts[1])
            if var is None:
                raise ExpressionError("name", node.cols[1], f"the parent record has no field `{parts[1]}`{suggest(parts[1], scope.parent)}")
            self._read(var, scope, in_child, "parent")
            return self.note(node, var.type, True, False)
        if len(parts) == 2 and head == "old" and scope.old is not None:
            var = scope.old.get(parts[1])
            if var is None:
                raise ExpressionError("name", node.cols[1], f"`old` has no field `{parts[1]}`{suggest(parts[1], scope.old)}")
            if var.key not in self.out.old_reads:
                self.out.old_reads.append(var.key)
            return self.note(node, var.type, True, in_child)
        if head in scope.children:
            raise ExpressionError("name", node.col, f"`{'.'.join(parts)}` reads child records; use an aggregate such as "
                                  f"sum({'.'.join(parts)}) or count({head} where ...)")
        if head in scope.names:
            raise ExpressionError("name", node.cols[1], f"`{head}` has no attribute `{parts[1]}`; only `parent.` and `old.` names have a dot")
        self._unknown_name(node, scope)

    def _unknown_name(self, node, scope: Scope):
        head = node.parts[0]
        if head in scope.children:
            raise ExpressionError("name", node.col, f"`{head}` is a child object; use it in an aggregate such as count({head})")
        if head in ("parent", "old"):
            where = "inside a child object's expressions" if head == "parent" else "in `changed` automations"
            raise ExpressionError("name", node.col, f"`{head}.` can only be used {where}")
        if head in scope.later:
            raise ExpressionError("name", node.col, f"`{head}` is defined later ({scope.later[head]}); "
                                  "a classification can only read the ones written before it")
        raise ExpressionError("name", node.col, f"unknown name `{'.'.join(node.parts)}`{suggest(head, scope.all_names())}")

    def _read(self, var: Var, scope: Scope, in_child: bool, how: str):
        if how == "name" and in_child:
            return  # a child's own field inside an aggregate: explained through the aggregate
        # parent.x inside an aggregate's `where` is the current record's x;
        # parent.x in a child object's own expression reads the parent record.
        target = self.out.parent_reads if how == "parent" and not in_child else self.out.reads
        if var.key not in target:
            target.append(var.key)

    # -- calls -------------------------------------------------------------
    def v_Call(self, node: ast.Call, scope: Scope, in_child):
        name = node.func
        first = node.args[0] if node.args else None
        if name in AGGREGATES and isinstance(first, ast.Name) and first.parts[0] in scope.children and not in_child:
            return self._aggregate(node, scope)
        if name in AGGREGATES and (node.where is not None or name in ("count", "sum", "avg", "exists")):
            if isinstance(first, ast.Name):
                kids = ", ".join(scope.children) or "none"
                raise ExpressionError("name", first.col, f"`{first.parts[0]}` is not a child object of `{scope.object}` "
                                      f"(child objects: {kids}){suggest(first.parts[0], scope.children)}")
            if name != "min" and name != "max":
                raise ExpressionError("type", node.col, f"{name}() takes a child object, e.g. {name}(order"
                                      f"{'.amount' if name in ('sum', 'avg') else ''})")
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise ExpressionError("name", node.col, f"unknown function `{name}`{suggest(name, FUNCTIONS)}")
        infos = [self.visit(a, scope, in_child) for a in node.args]
        result, nullable = fn.check(node, [(i.type, i.nullable) for i in infos], self.out)
        if name in ("today", "now"):
            self.out.uses_clock = True
        if fn.clock:
            self.out.uses_clock = True
        return self.note(node, result, nullable, any(i.child for i in infos))

    def _aggregate(self, node: ast.Call, scope: Scope):
        name = node.func
        target = node.args[0]
        child = scope.children[target.parts[0]]
        if len(node.args) > 1:
            raise ExpressionError("type", node.args[1].col, f"{name}() over child records takes one argument (and an optional `where`)")
        if name in ("count", "exists"):
            if len(target.parts) != 1:
                raise ExpressionError("type", target.cols[1], f"{name}() counts records: write {name}({target.parts[0]} where ...)")
            elem = None
        else:
            if len(target.parts) != 2:
                raise ExpressionError("type", target.col, f"{name}() needs a field: {name}({target.parts[0]}.amount)")
            var = child.names.get(target.parts[1])
            if var is None:
                raise ExpressionError("name", target.cols[1], f"`{target.parts[0]}` has no field `{target.parts[1]}`"
                                      f"{suggest(target.parts[1], child.names)}")
            elem = var.type
            if name in ("sum", "avg") and elem != NUMBER:
                raise ExpressionError("type", target.col, f"{name}() adds numbers; `{'.'.join(target.parts)}` is {elem}")
            if name in ("min", "max") and elem not in _ORDERED - {BOOL}:
                raise ExpressionError("type", target.col, f"{name}() needs numbers, texts, dates or durations; "
                                      f"`{'.'.join(target.parts)}` is {elem}")
            self.note(target, elem, True, True)
        if node.where is not None:
            info = self.visit(node.where, child, True)
            if info.type != BOOL:
                raise ExpressionError("type", node.where.col, f"the `where` condition must be true or false, not {info.type}")
        self.out.aggregates.append(node)
        if name == "count":
            return self.note(node, NUMBER, False)
        if name == "sum":
            return self.note(node, NUMBER, False)
        if name == "exists":
            return self.note(node, BOOL, False)
        return self.note(node, elem, True)

    # -- operators ---------------------------------------------------------
    def v_Unary(self, node, scope, in_child):
        info = self.visit(node.operand, scope, in_child)
        if node.op == "not":
            if info.type != BOOL:
                raise ExpressionError("type", node.operand.col, f"`not` needs true or false, not {info.type}")
            return self.note(node, BOOL, info.nullable, info.child)
        if info.type not in (NUMBER, DURATION):
            raise ExpressionError("type", node.operand.col, f"`-` needs a number or a duration, not {info.type}")
        return self.note(node, info.type, info.nullable, info.child)

    def v_IsEmpty(self, node, scope, in_child):
        info = self.visit(node.operand, scope, in_child)
        return self.note(node, BOOL, False, info.child)

    def v_In(self, node, scope, in_child):
        a = self.visit(node.item, scope, in_child)
        b = self.visit(node.container, scope, in_child)
        if a.type == NULL:
            raise ExpressionError("type", node.item.col, "`null in ...` is never decided; write `x is empty`")
        if b.type == TEXT:
            if a.type != TEXT:
                raise ExpressionError("type", node.item.col, f"`in` on a text finds text inside it; {a.type} is not text")
        elif b.type.startswith("list:"):
            elem = b.type[5:]
            if elem != "any" and not _same(elem, a.type):
                raise ExpressionError("type", node.item.col, f"this list holds {elem}; {a.type} is never in it")
        else:
            raise ExpressionError("type", node.container.col, f"`in` needs a list, a multiselect field or a text, not {b.type}")
        return self.note(node, BOOL, a.nullable, a.child or b.child)

    def v_Binary(self, node, scope, in_child):
        op = node.op
        a = self.visit(node.left, scope, in_child)
        b = self.visit(node.right, scope, in_child)
        child = a.child or b.child
        if op in ("and", "or"):
            for side, info in ((node.left, a), (node.right, b)):
                if info.type != BOOL:
                    raise ExpressionError("type", side.col, f"`{op}` needs true or false on both sides; this is {info.type}")
            return self.note(node, BOOL, a.nullable or b.nullable, child)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            for side, info in ((node.left, a), (node.right, b)):
                if info.type == NULL:
                    raise ExpressionError("type", side.col, "a comparison with null is never true; write `x is empty` or `x is not empty`")
            if not _comparable(a.type, b.type):
                raise ExpressionError("type", node.col, f"cannot compare {a.type} with {b.type}")
            if op not in ("==", "!=") and a.type not in _ORDERED:
                raise ExpressionError("type", node.col, f"{a.type} values have no order; only == and != compare them")
            return self.note(node, BOOL, a.nullable or b.nullable, child)
        result = _arith(op, a.type, b.type, node)
        if result is None:
            if NULL in (a.type, b.type):
                raise ExpressionError("type", node.col, "null has no value to compute with; use coalesce(x, 0)")
            raise ExpressionError("type", node.col, f"`{op}` does not apply to {a.type} and {b.type}")
        if result == "date?":
            whole = _const_whole_days(node.right)
            result = DATE if whole else DATETIME
        nullable = a.nullable or b.nullable or op in ("/", "%")
        return self.note(node, result, nullable, child)


def _same(a: str, b: str) -> bool:
    return a == b or {a, b} <= _TIMES


def _comparable(a: str, b: str) -> bool:
    if a == b:
        return True
    return {a, b} <= _TIMES


def _arith(op: str, a: str, b: str, node):
    if a == NUMBER and b == NUMBER:
        return NUMBER
    if op == "+" and a == TEXT and b == TEXT:
        return TEXT
    if op in ("+", "-"):
        if a == DATE and b == DURATION:
            return "date?"
        if a == DATETIME and b == DURATION:
            return DATETIME
        if a == DURATION and b == DURATION:
            return DURATION
        if op == "-" and a in _TIMES and b in _TIMES:
            return DURATION
    if op == "*" and {a, b} == {DURATION, NUMBER}:
        return DURATION
    return None


def _const_whole_days(node) -> bool:
    """Is `node` a constant duration of whole days? (Then date ± it stays a date.)"""
    value = const_duration(node)
    return value is not None and value % timedelta(days=1) == timedelta(0)


def const_duration(node):
    if isinstance(node, ast.Literal) and isinstance(node.value, timedelta):
        return node.value
    if isinstance(node, ast.Unary) and node.op == "-":
        v = const_duration(node.operand)
        return -v if v is not None else None
    if isinstance(node, ast.Binary) and node.op in ("+", "-"):
        a, b = const_duration(node.left), const_duration(node.right)
        if a is not None and b is not None:
            return a + b if node.op == "+" else a - b
    if isinstance(node, ast.Binary) and node.op == "*":
        for d, n in ((node.left, node.right), (node.right, node.left)):
            dv = const_duration(d)
            if dv is not None and isinstance(n, ast.Literal) and isinstance(n.value, int) and not isinstance(n.value, bool):
                return dv * n.value
    return None
