"""Reading bundle text into plain data while remembering where every node stands.

PyYAML (its libyaml parser when built with it) gives the events with marks;
we compose the nodes and build the Python values ourselves so that (1) every value's line and column is kept under its document path,
(2) scalars follow YAML 1.2's core schema (``on:`` stays a key, ``2026-03-01``
stays text, numbers become `int` or exact `Decimal`, never float), and
(3) hostile input (alias bombs, huge files, deep nesting, binary or
non-UTF-8 bytes) ends in a located `Problem`, never a hang or a traceback.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import yaml

from .errors import Problem

#: Largest bundle file we read; real bundles are a few hundred KiB at most.
MAX_BYTES = 2 * 1024 * 1024
#: Deepest nesting of mappings and lists; the format needs about eight.
MAX_DEPTH = 64
#: Most values a document may expand to, aliases included (stops "billion laughs").
MAX_NODES = 200_000
#: Longest single text value (expressions have their own, smaller limit).
MAX_SCALAR = 100_000

_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}

Path = tuple  # of str | int


def format_path(path: Path) -> str:
    """``('objects', 'customer', 'fields', 3, 'min')`` -> ``objects.customer.fields[3].min``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class Located:
    """A loaded document: plain values plus the source place of each path."""

    data: object
    #: path -> (file, line, col), 1-based; a mapping's keys are at ``path + ('<key>',)``
    places: dict = field(default_factory=dict)
    #: path -> True when the scalar at path was quoted, for column arithmetic
    quoted: dict = field(default_factory=dict)

    def place(self, path: Path) -> tuple[str, int, int]:
        """The nearest known place of `path` (walking up to its parents)."""
        p = tuple(path)
        while p:
            if p in self.places:
                return self.places[p]
            p = p[:-1]
        return self.places.get((), ("<bundle>", 1, 1))

    def problem(self, path: Path, message: str, kind: str | None = None, expr_col: int | None = None) -> Problem:
        file, line, col = self.place(path)
        if expr_col is not None and tuple(path) in self.places:
            # Point at the column inside a single-line expression.
            col = col + (1 if self.quoted.get(tuple(path)) else 0) + expr_col - 1
        return Problem(file, line, col, format_path(path), message, kind, expr_col)


def _scalar(node: yaml.ScalarNode):
    text = node.value
    if node.style:  # quoted or block: always text (plain is None from PyYAML, "" from libyaml)
        return text
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _HEX.match(text):
        return int(text, 16)
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        try:
            return Decimal(text.replace("_", ""))
        except InvalidOperation:
            return text
    return text


def _check_bytes(raw: bytes, filename: str) -> tuple[str | None, list[Problem]]:
    if len(raw) > MAX_BYTES:
        return None, [Problem(filename, 1, 1, "", f"file is {len(raw):,} bytes; a bundle may be at most {MAX_BYTES:,}")]
    if b"\x00" in raw:
        return None, [Problem(filename, 1, 1, "", "this is a binary file, not YAML or JSON text")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [Problem(filename, line, col, "",
                              f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")]
    return text, []


#: libyaml's parser when PyYAML was built with it: some twenty times faster
#: than the pure-Python one, which matters as the designer re-checks the whole
#: draft on every edit.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)
_MERGE = "tag:yaml.org,2002:merge"


class _Open:
    """A node being composed; a mapping also holds a key waiting for its value."""

    __slots__ = ("node", "key", "closed")

    def __init__(self, node, closed: bool = False):
        self.node, self.key, self.closed = node, None, closed

    def add(self, child) -> None:
        if isinstance(self.node, yaml.SequenceNode):
            self.node.value.append(child)
        elif self.key is None:
            self.key = child
        else:
            self.node.value.append((self.key, child))
            self.key = None


def _compose(text: str, filename: str, loader) -> tuple[yaml.Node | None, list[Problem]]:
    """Parse `text` once into a node graph, bounding depth, text size and events as we go.

    Does what ``yaml.compose`` does (anchors, aliases, one document only; a
    merge key gets the merge tag) but iteratively, so no nesting can exhaust
    the stack, and in the same pass as the limit checks. Syntax errors raise
    `yaml.YAMLError`. Composing errors raise too, but only once the whole
    stream has been read, so that a syntax error or a limit later in the text
    wins, as it did when parsing and composing were two passes.
    """
    depth = events = documents = 0
    root = first_document = deferred = None
    anchors: dict = {}  # anchor -> node, open collections included
    stack: list[_Open] = []
    for ev in yaml.parse(text, Loader=loader):
        events += 1
        if events > MAX_NODES * 2:
            return None, [Problem(filename, 1, 1, "", f"document has more than {MAX_NODES:,} values")]
        kind = type(ev)
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            depth -= 1
            done = stack.pop()
            done.node.end_mark = ev.end_mark
            done.closed = True
            node = done.node
        elif kind is yaml.AliasEvent:
            opened = anchors.get(ev.anchor)
            if opened is None or not opened.closed:
                message = (f"found undefined alias {ev.anchor!r}" if opened is None
                           else "an alias cannot refer to the value that contains it")
                deferred = deferred or yaml.composer.ComposerError(None, None, message, ev.start_mark)
                continue
            node = opened.node
        elif kind is yaml.ScalarEvent or kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            anchor = ev.anchor
            if anchor is not None and anchor in anchors:
                deferred = deferred or yaml.composer.ComposerError(
                    f"found duplicate anchor {anchor!r}; first occurrence", anchors[anchor].node.start_mark,
                    "second occurrence", ev.start_mark)
            if kind is yaml.ScalarEvent:
                if len(ev.value) > MAX_SCALAR:
                    m = ev.start_mark
                    return None, [Problem(filename, m.line + 1, m.column + 1, "", f"a text value of "
                                          f"{len(ev.value):,} characters; at most {MAX_SCALAR:,} are allowed")]
                merge = ev.tag == _MERGE or (ev.tag in (None, "!") and ev.implicit[0] and ev.value == "<<")
                node = yaml.ScalarNode(_MERGE if merge else None, ev.value, ev.start_mark, ev.end_mark,
                                       ev.style or None)
                if anchor is not None:
                    anchors[anchor] = _Open(node, closed=True)
            else:
                depth += 1
                if depth > MAX_DEPTH:
                    m = ev.start_mark
                    return None, [Problem(filename, m.line + 1, m.column + 1, "",
                                          f"nesting deeper than {MAX_DEPTH} levels; a bundle never needs that")]
                cls = yaml.MappingNode if kind is yaml.MappingStartEvent else yaml.SequenceNode
                opened = _Open(cls(None, [], ev.start_mark, None))
                stack.append(opened)
                if anchor is not None:
                    anchors[anchor] = opened
                continue
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            anchors = {}
            if documents == 1:
                first_document = ev.start_mark
            elif deferred is None:
                deferred = yaml.composer.ComposerError("expected a single document in the stream", first_document,
                                                       "but found another document", ev.start_mark)
            continue
        else:  # stream and document ends
            continue
        if stack:
            stack[-1].add(node)
        else:
            root = node
    if deferred is not None:
        raise deferred
    return root, []


def _compose_text(text: str, filename: str) -> tuple[yaml.Node | None, list[Problem]]:
    """Compose with libyaml when PyYAML has it; on any error ask the pure-Python parser again.

    The pure parser's messages and marks are the more helpful ones ("expected
    ',' or ']', but got '<stream end>'" at the place that is wrong, where
    libyaml says "did not find expected ',' or ']'" a line later), and it is
    the reference: the text it accepts and the errors it gives are the same
    with or without libyaml. Errors are rare, so the slow path costs little.
    """
    if _FAST_LOADER is not None:
        try:
            return _compose(text, filename, _FAST_LOADER)
        except (yaml.YAMLError, UnicodeError):
            pass
    try:
        return _compose(text, filename, yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, [_yaml_problem(exc, filename)]
    except yaml.YAMLError as exc:  # unmarked reader errors
        return None, [Problem(filename, 1, 1, "", f"not valid YAML: {exc}")]


def _yaml_problem(exc: yaml.MarkedYAMLError, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    what = " ".join(x for x in (exc.context, exc.problem) if x)
    return Problem(filename, line, col, "", f"not valid YAML: {what}")


def load_text(text: str, filename: str = "<bundle>", *, json_text: bool = False) -> tuple[Located | None, list[Problem]]:
    """Parse one YAML or JSON document into a `Located`, or return the problems found."""
    if len(text) > MAX_BYTES:
        return None, [Problem(filename, 1, 1, "", f"text is {len(text):,} characters; a bundle may be at most {MAX_BYTES:,}")]
    if "\x00" in text:
        return None, [Problem(filename, 1, 1, "", "this is binary data, not YAML or JSON text")]
    if json_text:
        try:
            json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            return None, [Problem(filename, exc.lineno, exc.colno, "", f"not valid JSON: {exc.msg}")]
        except RecursionError:
            return None, [Problem(filename, 1, 1, "", f"nesting deeper than {MAX_DEPTH} levels")]
    root, problems = _compose_text(text, filename)
    if problems:
        return None, problems
    located = Located(None)
    problems = []
    if root is None:
        located.places[()] = (filename, 1, 1)
        return located, [Problem(filename, 1, 1, "", "the file is empty; a bundle needs at least `bundle` and `objects`")]
    budget = [MAX_NODES, False]  # values left; deep aliases reported
    located.data = _build(root, (), filename, located, problems, budget)
    return located, problems


def _build(node, path, filename, located, problems, budget):
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            problems.append(Problem(filename, node.start_mark.line + 1, node.start_mark.column + 1,
                                    format_path(path), f"the document expands to more than {MAX_NODES:,} values "
                                    "(too many aliases?)"))
        return None
    if len(path) > MAX_DEPTH:  # only reachable through aliases: the parser bounds the written nesting
        if not budget[1]:
            budget[1] = True
            problems.append(Problem(filename, node.start_mark.line + 1, node.start_mark.column + 1,
                                    format_path(path[:MAX_DEPTH]),
                                    f"aliases nest values deeper than {MAX_DEPTH} levels; a bundle never needs that"))
        return None
    located.places.setdefault(path, (filename, node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.ScalarNode):
        if node.style is not None:
            located.quoted[path] = node.style in ("'", '"')
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), filename, located, problems, budget) for i, item in enumerate(node.value)]
    out = {}
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            problems.append(Problem(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                    format_path(path), "merge keys (`<<`) are not supported; write the keys out"))
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            problems.append(Problem(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                    format_path(path), "a key must be plain text"))
            continue
        key = key_node.value
        kpath = path + (key,)
        if key in out:
            problems.append(Problem(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                    format_path(kpath), f"key `{key}` is defined twice in this mapping"))
            continue
        located.places[kpath] = (filename, value_node.start_mark.line + 1, value_node.start_mark.column + 1)
        out[key] = _build(value_node, kpath, filename, located, problems, budget)
    return out


def load_bytes(raw: bytes, filename: str) -> tuple[Located | None, list[Problem]]:
    """Decode and parse a file's bytes; JSON when the name ends in ``.json``."""
    text, problems = _check_bytes(raw, filename)
    if text is None:
        return None, problems
    return load_text(text, filename, json_text=filename.lower().endswith(".json"))


def merge(parts: list[Located]) -> tuple[Located, list[Problem]]:
    """Merge the top-level keys of several documents (a directory bundle); a key twice is a problem."""
    merged = Located({})
    problems = []
    owner: dict[str, str] = {}
    for part in parts:
        if not isinstance(part.data, dict):
            file, line, col = part.place(())
            problems.append(Problem(file, line, col, "", "a bundle file must be a mapping of top-level keys"))
            continue
        for key, value in part.data.items():
            if key in merged.data:
                file, line, col = part.place((key,))
                problems.append(Problem(file, line, col, key, f"`{key}` is also defined in {owner[key]}"))
                continue
            owner[key] = part.place((key,))[0]
            merged.data[key] = value
        for path, where in part.places.items():
            if path and path[0] in owner and owner[path[0]] == part.place((path[0],))[0]:
                merged.places.setdefault(path, where)
        merged.quoted.update(part.quoted)
    if parts:
        merged.places.setdefault((), parts[0].place(()))
    return merged, problems
