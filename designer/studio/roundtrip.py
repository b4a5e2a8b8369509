"""Editing a consultant's YAML bundle from the visual designer without losing their comments or key order.

The designer sends small operations (set / insert / remove / move at a
document path); they are applied to a ruamel.yaml round-trip tree, so every
untouched mapping keeps its keys in order and its comments. ruamel stores a
comment line that precedes an item on the item *before* it (with that item's
end-of-line comment); removing or moving items naively would drop or misplace
comments, so `_Comments` re-attaches them: a comment written above an item
travels with it, and one written at the end of a list stays at its end.
The whole batch is applied to a fresh tree, so it succeeds or fails as one.
"""
from __future__ import annotations

import io
import re
from copy import deepcopy
from difflib import SequenceMatcher

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken

#: Keys whose text values are expressions of the language (SPEC §3).
EXPRESSION_KEYS = {"when", "formula", "visible_if", "required_if", "reclaim_when", "expr"}
#: Most operations accepted in one batch (a drag or a property edit sends one to a few).
MAX_OPS = 500


class OpError(ValueError):
    """An operation names a path that does not exist or does not fit; nothing was changed."""


def _yaml(text: str) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a long line the consultant wrote on one line
    mapping, sequence, offset = guess_indent(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


def guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the author wrote them; 2/4/2 when nothing tells."""
    mapping = offset = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for above, below in zip(lines, lines[1:]):
        if not above.rstrip().endswith(":"):
            continue
        top = len(above) - len(above.lstrip())
        inner = len(below) - len(below.lstrip())
        if below.lstrip().startswith("- ") and inner >= top and not above.lstrip().startswith("- "):
            offset = offset if offset is not None else inner - top
        elif inner > top and mapping is None:
            mapping = inner - top
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = mapping if offset is None else offset
    return mapping, offset + 2, offset


def load(text: str):
    """The round-trip tree of `text`; raises OpError when it is not YAML (the caller shows the parse problem)."""
    try:
        return _yaml(text).load(text)
    except YAMLError as exc:
        raise OpError(f"the draft is not valid YAML ({exc}); fix it in the YAML view first") from exc


def dump(tree, like: str = "") -> str:
    out = io.StringIO()
    _yaml(like).dump(tree, out)
    return out.getvalue()


def apply(text: str, ops: list) -> str:
    """`text` with every operation applied, or OpError naming the first bad one (then nothing is applied).

    Lines the operations did not touch come back exactly as written, even
    where ruamel would re-flow them (a flow mapping the consultant wrapped
    over two lines, blank lines before a comment): see `_patch`.
    """
    if not isinstance(ops, list) or not ops:
        raise OpError("`ops` must be a non-empty list of operations")
    if len(ops) > MAX_OPS:
        raise OpError(f"at most {MAX_OPS} operations per request")
    tree = load(text) if text.strip() else None
    if tree is None:
        tree = CommentedMap()
    if not isinstance(tree, (CommentedMap, CommentedSeq)):
        raise OpError("the draft is a single value, not a bundle; fix it in the YAML view first")
    before = dump(tree, text) if text.strip() else ""  # how ruamel writes the untouched text (dumping changes nothing)
    for n, op in enumerate(ops):
        try:
            _apply_one(tree, op)
        except OpError as exc:
            raise OpError(f"operation {n + 1}: {exc}") from None
    edited = dump(tree, text)
    if not text.strip():
        return edited
    return _patch(text, before, edited, to_plain(tree))


def _patch(written: str, before: str, after: str, meaning) -> str:
    """Carry the edit `before` -> `after` (both as ruamel writes them) over to the text as `written`.

    A three-way merge by lines: each changed region of `before` is widened
    until it is bounded by lines that appear unchanged in `written`, then
    that part of `written` is replaced by the matching part of `after`. If
    the result does not read back as `meaning` (the edited tree as plain data),
    `after` is returned whole.
    """
    if before == written:
        return after
    base, mine, theirs = (t.splitlines(keepends=True) for t in (before, written, after))
    anchor: list[int | None] = [None] * len(base)
    for block in SequenceMatcher(None, base, mine, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            anchor[block.a + k] = block.b + k
    regions = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, base, theirs, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2 and _insertion_point(anchor, i1) is not None:
            regions.append((i1, i2, j1, j2))  # new lines beside an unchanged one: nothing to widen
            continue
        while i1 > 0 and anchor[i1 - 1] is None:
            i1, j1 = i1 - 1, j1 - 1
        while i2 < len(base) and anchor[i2] is None:
            i2, j2 = i2 + 1, j2 + 1
        if regions and i1 <= regions[-1][1]:
            p1, p2, q1, q2 = regions.pop()
            i1, i2, j1, j2 = min(p1, i1), max(p2, i2), min(q1, j1), max(q2, j2)
        regions.append((i1, i2, j1, j2))
    out, done = [], 0
    for i1, i2, j1, j2 in regions:
        if i1 == i2 and _insertion_point(anchor, i1) is not None:
            t1 = t2 = _insertion_point(anchor, i1)
        else:
            t1 = anchor[i1 - 1] + 1 if i1 > 0 else 0
            t2 = anchor[i2] if i2 < len(base) else len(mine)
        out += mine[done:t1] + theirs[j1:j2]
        done = t2
    merged = "".join(out + mine[done:])
    try:
        same = to_plain(_yaml(merged).load(merged)) == meaning
    except YAMLError:
        same = False
    return merged if same else after


def _insertion_point(anchor: list, i: int) -> int | None:
    """Where lines inserted before base line `i` go in the written text: before its twin, or after the previous one's."""
    if i < len(anchor) and anchor[i] is not None:
        return anchor[i]
    if i > 0 and anchor[i - 1] is not None:
        return anchor[i - 1] + 1
    return None


def _apply_one(tree, op):
    if not isinstance(op, dict):
        raise OpError("an operation is an object such as {\"op\": \"set\", \"path\": [...], \"value\": ...}")
    kind, path = op.get("op"), op.get("path")
    if not isinstance(path, list) or not path:
        raise OpError("`path` must be a non-empty list of keys and indexes")
    parent = _walk(tree, path[:-1])
    owner = (_walk(tree, path[:-2]), path[-2]) if len(path) > 1 else None
    last = path[-1]
    if kind == "set":
        if "value" not in op:
            raise OpError("`set` needs a `value`")
        _set(parent, owner, last, op["value"], path)
    elif kind == "insert":
        if not isinstance(parent, list):
            raise OpError(f"{_show(path[:-1])} is not a list; use `set` to add a key to a mapping")
        index = _index(parent, last, path, extra=1)
        if not parent and isinstance(parent, CommentedSeq) and isinstance(op.get("value"), (dict, list)):
            parent.fa.set_block_style()  # `fields: []` grows one item per line, not into one long line
        _Comments(parent, owner).insert(index, _node(op.get("value"), parent))
    elif kind == "remove":
        position = _position(parent, last, path)
        _Comments(parent, owner).remove(position)
    elif kind == "move":
        if not isinstance(parent, list):
            raise OpError(f"{_show(path[:-1])} is not a list; only list items can be moved")
        source = _index(parent, last, path)
        target = op.get("to")
        if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < len(parent):
            raise OpError(f"`to` must be an index from 0 to {len(parent) - 1}")
        if source != target:
            _Comments(parent, owner).move(source, target)
    else:
        raise OpError(f"unknown operation `{kind}`; use set, insert, remove or move")


def _walk(tree, path):
    node = tree
    for i, part in enumerate(path):
        here = path[: i + 1]
        if isinstance(node, dict) and isinstance(part, str):
            if part not in node:
                raise OpError(f"{_show(here)} does not exist")
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and not isinstance(part, bool):
            if not -len(node) <= part < len(node):
                raise OpError(f"{_show(here)} is past the end of a list of {len(node)}")
            node = node[part]
        else:
            kind = "mapping" if isinstance(node, dict) else "list" if isinstance(node, list) else "plain value"
            raise OpError(f"{_show(here)}: cannot go into a {kind} with {part!r}")
    return node


def _index(seq, part, path, extra=0):
    if not isinstance(part, int) or isinstance(part, bool) or not 0 <= part < len(seq) + extra:
        raise OpError(f"{_show(path)}: index must be from 0 to {len(seq) - 1 + extra}")
    return part


def _position(parent, last, path) -> int:
    if isinstance(parent, dict):
        if not isinstance(last, str) or last not in parent:
            raise OpError(f"{_show(path)} does not exist")
        return list(parent).index(last)
    if isinstance(parent, list):
        return _index(parent, last, path)
    raise OpError(f"{_show(path[:-1])} is a value, not a mapping or list")


def _set(parent, owner, last, value, path):
    if isinstance(parent, dict):
        if not isinstance(last, str) or not last:
            raise OpError(f"{_show(path)}: a mapping key must be text")
        if last in parent:
            node = _node(value, parent, like=parent[last], key=last)
            _Comments(parent, owner).replace(list(parent).index(last), node)
        else:
            node = _node(value, parent, key=last)
            _Comments(parent, owner).insert(len(parent), node, key=last)
    elif isinstance(parent, list):
        index = _index(parent, last, path)
        _Comments(parent, owner).replace(index, _node(value, parent, like=parent[index]))
    else:
        raise OpError(f"{_show(path[:-1])} is a value, not a mapping or list")


def _node(value, parent, like=None, key=None):
    """A plain JSON value as a ruamel node styled like its neighbours (flow inside flow, quotes kept).

    Expressions (`when`, `formula`, ...) are written in double quotes, as the
    examples and consultants write them, unless the value replaced was not.
    """
    if isinstance(value, dict):
        node = CommentedMap()
        for k, v in value.items():
            node[str(k)] = _node(v, node, key=str(k))
        if _flow(parent, like, value):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        node = CommentedSeq()
        for v in value:
            node.append(_node(v, node))
        if _flow(parent, like) or all(not isinstance(v, (dict, list)) for v in value):
            node.fa.set_flow_style()
        return node
    if isinstance(value, str) and isinstance(like, ScalarString) and "\n" not in value:
        return type(like)(value)
    if isinstance(value, str) and key in EXPRESSION_KEYS and like is None and "\n" not in value:
        return DoubleQuotedScalarString(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise OpError(f"cannot store a {type(value).__name__}")


def _flow(parent, like, value=None) -> bool:
    """Should a new collection be written in flow style ({...}, [...])?

    Like the value it replaces, else like its siblings, else (the first item
    of a list) flow for a flat mapping such as a field or a rule, one per
    line as the examples write them, and block for anything with nested items.
    """
    if isinstance(like, (CommentedMap, CommentedSeq)):
        return bool(like.fa.flow_style())
    if isinstance(parent, (CommentedMap, CommentedSeq)) and parent.fa.flow_style() and len(parent):
        return True
    if isinstance(parent, list):
        siblings = [s for s in parent if isinstance(s, (CommentedMap, CommentedSeq))]
        if siblings:
            return all(s.fa.flow_style() for s in siblings)
        return isinstance(value, dict) and all(
            not isinstance(v, (dict, list)) or (isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v))
            for v in value.values())
    return False


def _show(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return f"`{out or '(document)'}`"


_FIRST_LINE = re.compile(r"^[^\n]*\n?")


class _Comments:
    """The comments around the items of one block mapping or list, as (lines above, end-of-line) per item.

    ruamel keeps, after each item, one token holding that item's end-of-line
    comment followed by the comment lines above the next item (or, after the
    last item, lines that close the block). The token sits on the item itself
    or, when the item's value is a block collection, on its last descendant.
    The lines above the first item are kept with the parent (`owner`), or on
    the document for the top level. Edits go through here so those lines move
    with their item: a comment written above an item travels with it.
    """

    def __init__(self, container, owner):
        self.c = container
        #: (mapping or list holding the container, its key there), or None for the document itself
        self.owner = owner
        self.is_map = isinstance(container, dict)
        n = len(container)
        self.above = [self._header()] + [""] * (n - 1) if n else []
        self.eol, self.marks, self.tail = [], [], ""
        #: a list's own per-index comment entries, reordered with the items
        self.own = [container.ca.items.get(i) for i in range(n)] if not self.is_map else None
        for i in range(n):
            own, closing, mark = self._text_after(i)
            eol = _FIRST_LINE.match(own).group(0) if own else ""
            value = own + closing
            self.eol.append(eol)
            self.marks.append(mark)
            if i + 1 < n:
                self.above[i + 1] = value[len(eol):]
            else:
                self.tail = value[len(eol):]
        self._clear()

    # -- where ruamel keeps things -------------------------------------------------------------------
    def _header_tokens(self):
        if self.owner is None:
            comment = self.c.ca.comment
            return comment[1] if comment and len(comment) > 1 and comment[1] else []
        holder, key = self.owner
        entry = holder.ca.items.get(key)
        return entry[3] if entry and len(entry) > 3 and entry[3] else []

    def _header(self) -> str:
        """The lines above the first item, each with its indentation (as the other tokens hold them)."""
        return "".join((" " * t.start_mark.column if t.value.strip() else "") + t.value
                       for t in self._header_tokens() if t is not None)

    def _slot(self, i):
        """(holder, key, position) of the token after item i, and the block collections passed on the way down."""
        holder, key = self.c, (list(self.c)[i] if self.is_map else i)
        chain = []
        while True:
            value = holder[key]
            if isinstance(value, (CommentedMap, CommentedSeq)) and len(value) and not value.fa.flow_style():
                chain.append(value)
                holder, key = value, (list(value)[-1] if isinstance(value, dict) else len(value) - 1)
                continue
            return holder, key, (2 if isinstance(holder, dict) else 0), chain

    def _text_after(self, i) -> tuple[str, str, object]:
        """What is written after item i up to the next item: its token, then comments closing its blocks."""
        holder, key, pos, chain = self._slot(i)
        entry = holder.ca.items.get(key)
        token = entry[pos] if entry and len(entry) > pos else None
        text = token.value if token is not None else ""
        closing = ""
        for block in reversed(chain):
            closing += "".join((" " * t.start_mark.column if t.value.strip() else "") + t.value
                            for t in getattr(block.ca, "end", None) or () if t is not None)
        return text, closing, (token.start_mark if token is not None else CommentMark(0))

    def _clear(self):
        for i in range(len(self.c)):
            holder, key, pos, chain = self._slot(i)
            entry = holder.ca.items.get(key)
            if entry and len(entry) > pos:
                entry[pos] = None
            for block in chain:
                if getattr(block.ca, "end", None):
                    block.ca.end = None

    def _write(self):
        n = len(self.c)
        if not self.is_map:
            self.c.ca.items.clear()
            self.c.ca.items.update({i: e for i, e in enumerate(self.own) if e is not None})
        for i in range(n):
            holder, key, pos, _ = self._slot(i)
            after = self.above[i + 1] if i + 1 < n else self.tail
            text = ((self.eol[i] or "\n") + after) if after else self.eol[i]
            entry = holder.ca.items.setdefault(key, [None, None, None, None])
            while len(entry) <= pos:
                entry.append(None)
            entry[pos] = CommentToken(text, self.marks[i], None) if text.strip(" ") not in ("", "\n") else None
        header = self.above[0] if n else ""
        tokens = [CommentToken(line.lstrip(" "), CommentMark(len(line) - len(line.lstrip(" "))), None)
                  for line in header.splitlines(keepends=True)] or None
        if self.owner is None:
            if tokens or self.c.ca.comment:
                self.c.ca.comment = [self.c.ca.comment[0] if self.c.ca.comment else None, tokens or []]
        else:
            holder, key = self.owner
            entry = holder.ca.items.setdefault(key, [None, None, None, None])
            while len(entry) <= 3:
                entry.append(None)
            entry[3] = tokens
            if isinstance(self.c.ca.comment, list) and len(self.c.ca.comment) > 1:
                self.c.ca.comment[1] = tokens or []

    # -- edits that carry comments along -------------------------------------------------------------
    def insert(self, index: int, value, key: str | None = None):
        if self.is_map:
            self.c.insert(index, key, value)
        else:
            list.insert(self.c, index, value)
            self.own.insert(index, None)
        self.above.insert(index, "")
        self.eol.insert(index, "\n")
        self.marks.insert(index, CommentMark(0))
        self._write()

    def replace(self, index: int, value):
        """A new value for an item; its comments stay (those inside a replaced block are dropped with it)."""
        if self.is_map:
            self.c[list(self.c)[index]] = value
        else:
            list.__setitem__(self.c, index, value)
        self._write()

    def remove(self, index: int):
        if self.is_map:
            del self.c[list(self.c)[index]]
        else:
            list.__delitem__(self.c, index)
            del self.own[index]
        del self.above[index], self.eol[index], self.marks[index]
        self._write()

    def move(self, source: int, target: int):
        item = self.c[source]
        list.__delitem__(self.c, source)
        list.insert(self.c, target, item)
        for column in (self.above, self.eol, self.marks, self.own):
            column.insert(target, column.pop(source))
        self._write()


def to_plain(tree):
    """The round-trip tree as plain JSON-ready values (for tests and exports that need no comments)."""
    if isinstance(tree, dict):
        return {str(k): to_plain(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_plain(v) for v in tree]
    if isinstance(tree, ScalarString):
        return str(tree)
    return deepcopy(tree)
