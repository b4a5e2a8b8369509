"""Tokens of the expression language, each with its 1-based column."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from ..errors import ExpressionError

#: Longest expression accepted; a rule longer than this is unreadable anyway.
MAX_LENGTH = 10_000

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "where", "true", "false", "null"}
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

_NUMBER = re.compile(r"[0-9][0-9_]*(\.[0-9][0-9_]*)?([eE][-+]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",", ".")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, duration, name, keyword, op, end
    value: object
    col: int
    text: str


def tokenize(src: str) -> list[Token]:
    if len(src) > MAX_LENGTH:
        raise ExpressionError("syntax", MAX_LENGTH, f"expression is {len(src):,} characters; at most {MAX_LENGTH:,} are allowed")
    tokens: list[Token] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        col = i + 1
        if c.isdigit():
            m = _NUMBER.match(src, i)
            text = m.group(0)
            j = m.end()
            if j < n and (src[j].isalpha() or src[j] == "_"):
                unit = src[j]
                end = j + 1
                if unit in UNITS and not m.group(1) and not m.group(2) and (end >= n or not (src[end].isalnum() or src[end] == "_")):
                    count = int(text.replace("_", ""))
                    tokens.append(Token("duration", UNITS[unit] * count, col, src[i:end]))
                    i = end
                    continue
                raise ExpressionError("syntax", col, f"`{src[i:j + 1]}…` is not a number; a duration is a whole number and one of m, h, d, w (e.g. 30d)")
            if text.endswith("_") or "__" in text:
                raise ExpressionError("syntax", col, f"misplaced `_` in number `{text}`")
            clean = text.replace("_", "")
            value = int(clean) if m.group(1) is None and m.group(2) is None else Decimal(clean)
            tokens.append(Token("number", value, col, text))
            i = j
            continue
        if c.isalpha() or c == "_":
            m = _NAME.match(src, i)
            if m is None:  # a non-ASCII letter
                raise ExpressionError("syntax", col, f"unexpected character `{c}`; names use letters a-z, digits and _ (quote text: '{c}')")
            word = m.group(0)
            tokens.append(Token("keyword" if word in KEYWORDS else "name", word, col, word))
            i = m.end()
            continue
        if c in "'\"":
            i, value = _string(src, i)
            tokens.append(Token("string", value, col, src[col - 1:i]))
            continue
        for op in _OPS:
            if src.startswith(op, i):
                tokens.append(Token("op", op, col, op))
                i += len(op)
                break
        else:
            if c == "=":
                raise ExpressionError("syntax", col, "`=` is not an operator; write `==` to compare")
            if c == "&" or c == "|":
                raise ExpressionError("syntax", col, f"`{c}` is not an operator; write `and` / `or`")
            raise ExpressionError("syntax", col, f"unexpected character `{c}`")
    tokens.append(Token("end", None, n + 1, ""))
    return tokens


def _string(src: str, start: int) -> tuple[int, str]:
    quote = src[start]
    out = []
    i = start + 1
    n = len(src)
    while i < n:
        c = src[i]
        if c == quote:
            return i + 1, "".join(out)
        if c == "\\":
            if i + 1 >= n:
                break
            e = src[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
                continue
            if e == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", src[i + 2:i + 6] or ""):
                out.append(chr(int(src[i + 2:i + 6], 16)))
                i += 6
                continue
            raise ExpressionError("syntax", i + 1, f"unknown escape `\\{e}`; use \\\\ \\' \\\" \\n \\t or \\uXXXX")
        out.append(c)
        i += 1
    raise ExpressionError("syntax", start + 1, f"text starting here is never closed; add the closing {quote}")
