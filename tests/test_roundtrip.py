"""Visual edits keep the YAML a consultant wrote: comments and key order survive set/insert/remove/move.

Cases live in tests/data/roundtrip_*.yaml: a commented `source`, and per case
the `ops` the designer sends and the exact text expected back. Each case is
also checked for meaning: the edited document must equal the same operations
applied to plain data.
"""
from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest
import yaml

from designer.studio import roundtrip
from engine import load_bundle_text

DATA = Path(__file__).parent / "data"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _cases():
    for path in sorted(DATA.glob("roundtrip_*.yaml")):
        table = yaml.safe_load(path.read_text("utf-8"))
        for case in table["cases"]:
            yield pytest.param(table["source"], case, id=f"{path.stem[10:]}: {case['name']}")


def _plain_apply(data, ops):
    """The meaning of the operations, on plain data (what the designer's document view expects)."""
    data = copy.deepcopy(data)
    for op in ops:
        *parents, last = op["path"]
        node = data
        for part in parents:
            node = node[part]
        if op["op"] == "set":
            node[last] = op["value"]
        elif op["op"] == "insert":
            node.insert(last, op["value"])
        elif op["op"] == "remove":
            del node[last]
        elif op["op"] == "move":
            node.insert(op["to"], node.pop(last))
    return data


@pytest.mark.parametrize("source, case", list(_cases()))
def test_round_trip(source, case):
    edited = roundtrip.apply(source, case["ops"])
    assert edited == case["expect"]
    assert yaml.safe_load(edited) == _plain_apply(yaml.safe_load(source), case["ops"])


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "bundle.yaml").is_file()))
def test_untouched_example_bundles_come_back_byte_for_byte(example):
    text = (EXAMPLES / example / "bundle.yaml").read_text("utf-8")
    title = yaml.safe_load(text)["title"]
    assert roundtrip.apply(text, [{"op": "set", "path": ["title"], "value": title}]) == text
    edited = roundtrip.apply(text, [{"op": "set", "path": ["title"], "value": "改名"},
                                    {"op": "move", "path": ["objects", "customer", "fields", 0], "to": 3}])
    changed = [line for line in edited.splitlines() if line not in text.splitlines()]
    assert changed[0] == "title: 改名"
    assert sorted(line for line in text.splitlines() if line.lstrip().startswith("#")) == \
        sorted(line for line in edited.splitlines() if line.lstrip().startswith("#"))
    load_bundle_text(edited)  # still a valid bundle


@pytest.mark.parametrize("ops, message", [
    ([{"op": "set", "path": ["objects", "nobody", "label"], "value": 1}], "operation 1: `objects.nobody` does not exist"),
    ([{"op": "set", "path": ["title"], "value": "x"}, {"op": "remove", "path": ["objects", "customer", "fields", 5]}],
     "operation 2: `objects.customer.fields[5]`: index must be from 0 to 2"),
    ([{"op": "insert", "path": ["objects", "customer", 0], "value": 1}], "is not a list"),
    ([{"op": "move", "path": ["objects", "customer", "fields", 0], "to": "last"}], "`to` must be an index from 0 to 2"),
    ([{"op": "set", "path": ["title", "x"], "value": 1}], "`title` is a value, not a mapping or list"),
    ([{"op": "set", "path": ["title"]}], "`set` needs a `value`"),
    ([{"op": "set", "path": []}], "non-empty list of keys"),
    (["set"], "an operation is an object"),
    ([{"op": "set", "path": ["objects", "customer", "fields", True], "value": 1}], "index must be from 0 to 2"),
    ([{"op": "set", "path": ["objects", True, "x"], "value": 1}], "cannot go into a mapping with True"),
])
def test_bad_operations_are_refused_with_their_number(ops, message):
    source = yaml.safe_load((DATA / "roundtrip_set.yaml").read_text("utf-8"))["source"]
    with pytest.raises(roundtrip.OpError) as info:
        roundtrip.apply(source, ops)
    assert message in str(info.value)


def test_an_empty_draft_gets_its_first_keys():
    assert roundtrip.apply("", [{"op": "set", "path": ["bundle"], "value": "new"}]) == "bundle: new\n"


def test_text_that_is_not_yaml_is_refused():
    with pytest.raises(roundtrip.OpError, match="not valid YAML"):
        roundtrip.apply("title: [x", [{"op": "set", "path": ["title"], "value": "y"}])


@pytest.mark.parametrize("text, indent", [
    ("a:\n  b: 1\n  c:\n    - x\n", (2, 4, 2)),
    ("a:\n    b: 1\nc:\n- x\n", (4, 2, 0)),
    ("a:\n   b:\n     - 1\n", (3, 4, 2)),
    ("a: 1\n", (2, 4, 2)),
])
def test_indentation_is_read_from_the_text(text, indent):
    assert roundtrip.guess_indent(text) == indent


def _containers(node, path=()):
    if isinstance(node, (dict, list)) and path:
        yield path, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        if isinstance(k, (str, int)):
            yield from _containers(v, path + (k,))


def _random_op(rng, data):
    path, node = rng.choice(list(_containers(data)))
    path = list(path)
    if isinstance(node, dict):
        keys = [k for k in node if isinstance(k, str)]
        if not keys:
            return None
        return rng.choice([{"op": "set", "path": path + [rng.choice(keys)], "value": rng.choice(["x", 1, {"a": 1}])},
                           {"op": "set", "path": path + ["zz_new"], "value": "v"},
                           {"op": "remove", "path": path + [rng.choice(keys)]}])
    ops = [{"op": "insert", "path": path + [rng.randrange(len(node) + 1)], "value": {"key": "k", "type": "text"}}]
    if node:
        ops += [{"op": "remove", "path": path + [rng.randrange(len(node))]},
                {"op": "move", "path": path + [rng.randrange(len(node))], "to": rng.randrange(len(node))}]
    return rng.choice(ops)


@pytest.mark.parametrize("example", ["manufacturing", "retail", "saas"])
def test_random_edits_keep_meaning_and_moves_keep_every_comment(example):
    rng = random.Random(example)
    text = (EXAMPLES / example / "bundle.yaml").read_text("utf-8")
    for _ in range(15):
        data = yaml.safe_load(text)
        op = _random_op(rng, data)
        if op is None:
            continue
        edited = roundtrip.apply(text, [op])
        assert yaml.safe_load(edited) == _plain_apply(data, [op]), op
        if op["op"] == "move":
            comments = sorted(ln.strip() for ln in text.splitlines() if ln.strip().startswith("#"))
            assert comments == sorted(ln.strip() for ln in edited.splitlines() if ln.strip().startswith("#")), op
        text = edited
