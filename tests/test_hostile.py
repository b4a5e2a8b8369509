"""Hostile bundles and expressions end in a clean, located error — quickly, never a traceback or a hang."""
from __future__ import annotations

import time

import pytest

from engine import BundleInvalid, ExpressionError, load_bundle, load_bundle_text
from engine.expr.lexer import MAX_LENGTH
from engine.expr.parser import MAX_DEPTH, parse

GOOD_HEAD = "bundle: hostile\nobjects:\n  customer:\n    fields:\n      - {key: name, type: text}\n"

ALIAS_BOMB = "\n".join(
    ["bundle: bomb", "objects: {customer: {fields: [{key: name, type: text}]}}", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
       f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]" for i in range(8)]) + "\n"


def bundle_cases():
    """(id, bytes, message fragment)"""
    yield "alias bomb", ALIAS_BOMB.encode(), "too many aliases"
    yield "10 MB string", (GOOD_HEAD + "title: '" + "x" * (10 * 1024 * 1024) + "'\n").encode(), "at most"
    yield "10 MB file of keys", (GOOD_HEAD + "".join(f"k{i}: {i}\n" for i in range(700_000))).encode(), "at most"
    yield "10,000-deep nesting", (GOOD_HEAD + "title: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(), "nesting deeper"
    yield "1,000-deep block nesting", (GOOD_HEAD + "".join(" " * i + f"k{i}:\n" for i in range(1_000))).encode(), "nesting deeper"
    yield "binary file", bytes(range(256)) * 64, "binary"
    yield "PNG header", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"
    yield "non-UTF-8 (GBK)", GOOD_HEAD.encode() + "title: 客户分级\n".encode("gbk"), "not UTF-8"
    yield "empty file", b"", "empty"
    yield "a list, not a mapping", b"- 1\n- 2\n", "mapping"
    yield "a scalar", b"just text\n", "mapping"
    yield "merge keys", (GOOD_HEAD + "x: &x {a: 1}\ny:\n  <<: *x\n").encode(), "merge keys"
    yield "duplicate key", (GOOD_HEAD + "title: a\ntitle: b\n").encode(), "defined twice"
    yield "tab indentation", b"bundle: t\nobjects:\n\tcustomer: {}\n", "not valid YAML"
    yield "unclosed quote", (GOOD_HEAD + "title: 'abc\n").encode(), "not valid YAML"
    yield "python tag", (GOOD_HEAD + "title: !!python/object/apply:os.system ['true']\n").encode(), "title"


@pytest.mark.parametrize("raw,fragment", [(r, f) for _, r, f in bundle_cases()], ids=[i for i, _, _ in bundle_cases()])
def test_hostile_bundle_file(tmp_path, raw, fragment):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(raw)
    started = time.monotonic()
    with pytest.raises(BundleInvalid) as info:
        load_bundle(path)
    assert time.monotonic() - started < 20, "rejecting hostile input must not hang"
    text = str(info.value)
    assert fragment in text, text
    for problem in info.value.problems:
        assert problem.file == str(path) and problem.line >= 0 and problem.col >= 0


def test_hostile_json(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"bundle": "x", "objects": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(BundleInvalid) as info:
        load_bundle(path)
    assert "nesting deeper" in str(info.value)


def test_broken_json_is_located(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('{\n  "bundle": "x",\n  "objects": {,}\n}')
    with pytest.raises(BundleInvalid) as info:
        load_bundle(path)
    problem = info.value.problems[0]
    assert (problem.line, problem.col) == (3, 15) and "not valid JSON" in problem.message


def test_directory_without_yaml(tmp_path):
    with pytest.raises(BundleInvalid, match="no \\*.yaml"):
        load_bundle(tmp_path)


def test_directory_key_defined_twice(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD_HEAD)
    (tmp_path / "b.yaml").write_text("bundle: other\n")
    with pytest.raises(BundleInvalid) as info:
        load_bundle(tmp_path)
    problem = info.value.problems[0]
    assert problem.file.endswith("b.yaml") and problem.line == 1 and "also defined in" in problem.message


@pytest.mark.parametrize("text,fragment", [
    ("1 + " * 2400 + "1", "nested deeper"),
    ("(" * 200 + "1" + ")" * 200, "nested deeper"),
    ("not " * 500 + "true", "nested deeper"),
    ("-" * 500 + "1", "nested deeper"),
    ("x" * (MAX_LENGTH + 1), "at most"),
    ("'" + "a" * (MAX_LENGTH + 5) + "'", "at most"),
    ("name == '\\x'", "unknown escape"),
    ("\x00", "unexpected character"),
    ("名称 == 'a'", "unexpected character"),
], ids=["2,400 operators", "200 parentheses", "500 nots", "500 minus signs", "long name", "long text",
        "bad escape", "NUL", "Chinese name"])
def test_hostile_expression(text, fragment):
    started = time.monotonic()
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert time.monotonic() - started < 5
    assert info.value.kind == "syntax" and fragment in info.value.message
    assert 1 <= info.value.column <= len(text) + 1


def test_expression_at_depth_limit_is_accepted():
    parse("(" * (MAX_DEPTH - 2) + "1" + ")" * (MAX_DEPTH - 2))
    parse(" or ".join(["true"] * 150))


def test_hostile_expression_in_bundle_is_located():
    text = GOOD_HEAD + "classifications:\n  - key: tier\n    object: customer\n    rules:\n" \
        + "      - {when: \"" + "(" * 300 + "true" + ")" * 300 + "\", value: A}\n"
    with pytest.raises(BundleInvalid) as info:
        load_bundle_text(text, "deep.yaml")
    problem = info.value.problems[0]
    assert problem.line == 10 and problem.path == "classifications[0].rules[0].when" and problem.kind == "syntax"
