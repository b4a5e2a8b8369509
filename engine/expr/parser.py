"""Recursive-descent parser for the grammar of SPEC §3.1, with a nesting limit."""
from __future__ import annotations

from ..errors import ExpressionError
from . import ast
from .lexer import Token, tokenize

#: Deepest nesting of parentheses, calls and operators accepted while parsing.
MAX_DEPTH = 60
#: Deepest tree accepted; a chain `a + b + c ...` nests one level per operator.
MAX_TREE_DEPTH = 200

_COMPARE = {"==", "!=", "<", "<=", ">", ">="}
AGGREGATES = {"count", "sum", "avg", "min", "max", "exists"}


def parse(src: str) -> ast.Node:
    """Parse expression text into a tree, or raise `ExpressionError` (kind ``syntax``)."""
    if not isinstance(src, str):
        raise ExpressionError("syntax", 1, f"an expression must be text, got {type(src).__name__}")
    if not src.strip():
        raise ExpressionError("syntax", 1, "the expression is empty")
    tree = _Parser(tokenize(src)).parse()
    _check_depth(tree)
    return tree


def _check_depth(tree: ast.Node):
    """Bound the tree's depth without recursion, so later passes can recurse safely."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise ExpressionError("syntax", node.col, f"expression nested deeper than {MAX_TREE_DEPTH} levels "
                                  "(a chain of that many operators); split it up")
        for child in ast.children(node):
            stack.append((child, depth + 1))


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        t = self.tokens[self.pos]
        self.pos += 1
        return t

    def at(self, kind: str, value=None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def expect(self, kind: str, value, what: str) -> Token:
        if not self.at(kind, value):
            self.fail(f"expected {what}")
        return self.next()

    def fail(self, message: str):
        t = self.tok
        found = "the end of the expression" if t.kind == "end" else f"`{t.text}`"
        raise ExpressionError("syntax", t.col, f"{message}, found {found}")

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("syntax", self.tok.col, f"expression nested deeper than {MAX_DEPTH} levels; split it up")

    # -- grammar -----------------------------------------------------------
    def parse(self) -> ast.Node:
        node = self.expr()
        if not self.at("end"):
            t = self.tok
            if t.kind == "op" and t.value in _COMPARE:
                raise ExpressionError("syntax", t.col, "comparisons do not chain; write `a < b and b < c`")
            self.fail("an operator or the end of the expression")
        return node

    def expr(self) -> ast.Node:
        self.enter()
        try:
            return self.or_()
        finally:
            self.depth -= 1

    def or_(self) -> ast.Node:
        node = self.and_()
        while self.at("keyword", "or"):
            t = self.next()
            node = ast.Binary(t.col, "or", node, self.and_())
        return node

    def and_(self) -> ast.Node:
        node = self.not_()
        while self.at("keyword", "and"):
            t = self.next()
            node = ast.Binary(t.col, "and", node, self.not_())
        return node

    def not_(self) -> ast.Node:
        if self.at("keyword", "not"):
            t = self.next()
            self.enter()
            try:
                return ast.Unary(t.col, "not", self.not_())
            finally:
                self.depth -= 1
        return self.cmp()

    def cmp(self) -> ast.Node:
        left = self.add()
        t = self.tok
        if t.kind == "op" and t.value in _COMPARE:
            self.next()
            node = ast.Binary(t.col, t.value, left, self.add())
        elif t.kind == "keyword" and t.value == "in":
            self.next()
            node = ast.In(t.col, left, self.add(), False)
        elif t.kind == "keyword" and t.value == "not" and self.tokens[self.pos + 1].kind == "keyword" \
                and self.tokens[self.pos + 1].value == "in":
            self.pos += 2
            node = ast.In(t.col, left, self.add(), True)
        elif t.kind == "keyword" and t.value == "is":
            self.next()
            negate = False
            if self.at("keyword", "not"):
                self.next()
                negate = True
            self.expect("keyword", "empty", "`empty` after `is` (write `x is empty` or `x is not empty`)")
            node = ast.IsEmpty(t.col, left, negate)
        else:
            return left
        t = self.tok
        if (t.kind == "op" and t.value in _COMPARE) or (t.kind == "keyword" and t.value in ("in", "is")):
            raise ExpressionError("syntax", t.col, "comparisons do not chain; write `a < b and b < c`")
        return node

    def add(self) -> ast.Node:
        node = self.mul()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            t = self.next()
            node = ast.Binary(t.col, t.value, node, self.mul())
        return node

    def mul(self) -> ast.Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            t = self.next()
            node = ast.Binary(t.col, t.value, node, self.unary())
        return node

    def unary(self) -> ast.Node:
        if self.at("op", "-"):
            t = self.next()
            self.enter()
            try:
                return ast.Unary(t.col, "-", self.unary())
            finally:
                self.depth -= 1
        return self.primary()

    def primary(self) -> ast.Node:
        t = self.tok
        if t.kind in ("number", "string", "duration"):
            self.next()
            return ast.Literal(t.col, t.value)
        if t.kind == "keyword" and t.value in ("true", "false", "null"):
            self.next()
            return ast.Literal(t.col, {"true": True, "false": False, "null": None}[t.value])
        if self.at("op", "("):
            self.next()
            node = self.expr()
            self.expect("op", ")", "`)` to close the `(`")
            return node
        if self.at("op", "["):
            self.next()
            items = []
            if not self.at("op", "]"):
                items.append(self.expr())
                while self.at("op", ","):
                    self.next()
                    items.append(self.expr())
            self.expect("op", "]", "`,` or `]` in the list")
            return ast.ListLit(t.col, items)
        if t.kind == "name":
            self.next()
            if self.at("op", "("):
                return self.call(t)
            parts, cols = [t.value], [t.col]
            while self.at("op", "."):
                self.next()
                if not self.at("name"):
                    self.fail("a name after `.`")
                n = self.next()
                parts.append(n.value)
                cols.append(n.col)
            return ast.Name(t.col, parts, cols)
        if t.kind == "keyword":
            self.fail(f"a value; `{t.value}` is a keyword and cannot stand here")
        self.fail("a value (a number, 'text', a name or a function call)")

    def call(self, name: Token) -> ast.Node:
        self.next()  # (
        args = []
        where = None
        if not self.at("op", ")"):
            args.append(self.expr())
            if self.at("keyword", "where"):
                if name.value not in AGGREGATES:
                    raise ExpressionError("syntax", self.tok.col, f"`where` only goes in an aggregate ({', '.join(sorted(AGGREGATES))})")
                if not isinstance(args[0], ast.Name):
                    raise ExpressionError("syntax", self.tok.col, "`where` must follow a child object, e.g. `count(order where amount > 0)`")
                self.next()
                where = self.expr()
            else:
                while self.at("op", ","):
                    self.next()
                    args.append(self.expr())
        self.expect("op", ")", "`,` or `)` to close the call")
        return ast.Call(name.col, name.value, args, where)
