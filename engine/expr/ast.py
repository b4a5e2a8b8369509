"""Syntax tree of an expression. Nodes are plain data; the checker annotates types separately."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    col: int


@dataclass(eq=False)
class Literal(Node):
    value: object  # int | Decimal | str | bool | timedelta | None


@dataclass(eq=False)
class ListLit(Node):
    items: list


@dataclass(eq=False)
class Name(Node):
    parts: list  # ["annual_revenue"] or ["parent", "x"] or ["order", "amount"]
    cols: list = field(default_factory=list)  # column of each part


@dataclass(eq=False)
class Call(Node):
    func: str
    args: list
    where: Node | None = None  # only for aggregates: count(order where ...)


@dataclass(eq=False)
class Unary(Node):
    op: str  # "-" or "not"
    operand: Node


@dataclass(eq=False)
class Binary(Node):
    op: str  # + - * / % == != < <= > >= and or
    left: Node
    right: Node


@dataclass(eq=False)
class In(Node):
    item: Node
    container: Node
    negate: bool


@dataclass(eq=False)
class IsEmpty(Node):
    operand: Node
    negate: bool


def children(node: Node) -> tuple:
    """The direct sub-trees of a node."""
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, (Unary, IsEmpty)):
        return (node.operand,)
    if isinstance(node, In):
        return (node.item, node.container)
    if isinstance(node, ListLit):
        return tuple(node.items)
    if isinstance(node, Call):
        return tuple(node.args) + ((node.where,) if node.where is not None else ())
    return ()


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7, "atom": 8}


def unparse(node: Node) -> str:
    """Canonical text of a tree; used to name aggregates in explanations and to share equal sub-trees."""
    return _unparse(node)[0]


def _unparse(node: Node) -> tuple[str, int]:
    from datetime import timedelta
    if isinstance(node, Literal):
        v = node.value
        if v is None:
            return "null", 8
        if v is True or v is False:
            return ("true" if v else "false"), 8
        if isinstance(v, str):
            return "'" + v.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t") + "'", 8
        if isinstance(v, timedelta):
            secs = int(v.total_seconds())
            for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
                if secs % size == 0:
                    return f"{secs // size}{unit}", 8
        return str(v), 8
    if isinstance(node, ListLit):
        return "[" + ", ".join(unparse(i) for i in node.items) + "]", 8
    if isinstance(node, Name):
        return ".".join(node.parts), 8
    if isinstance(node, Call):
        inner = ", ".join(unparse(a) for a in node.args)
        if node.where is not None:
            inner += " where " + unparse(node.where)
        return f"{node.func}({inner})", 8
    if isinstance(node, Unary):
        if node.op == "not":
            text, p = _unparse(node.operand)
            return "not " + (f"({text})" if p < 3 else text), 3
        text, p = _unparse(node.operand)
        return "-" + (f"({text})" if p < 7 else text), 7
    if isinstance(node, IsEmpty):
        text, p = _unparse(node.operand)
        return (f"({text})" if p <= 4 else text) + (" is not empty" if node.negate else " is empty"), 4
    if isinstance(node, In):
        a, pa = _unparse(node.item)
        b, pb = _unparse(node.container)
        return (f"({a})" if pa <= 4 else a) + (" not in " if node.negate else " in ") + (f"({b})" if pb <= 4 else b), 4
    if isinstance(node, Binary):
        prec = _PREC.get(node.op, 4)
        a, pa = _unparse(node.left)
        b, pb = _unparse(node.right)
        left = f"({a})" if pa < prec or (prec == 4 and pa == 4) else a
        right = f"({b})" if pb <= prec and not (prec in (1, 2) and pb == prec) else b
        return f"{left} {node.op} {right}", prec
    raise TypeError(node)
