"""Reading bundle text: libyaml's fast parser gives exactly what the pure-Python one gives."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine import source

ROOT = Path(__file__).resolve().parent.parent
BUNDLES = sorted([*ROOT.glob("examples/*/bundle.yaml"), *ROOT.glob("tests/data/*.yaml")])

#: (id, text): odd but legal YAML, and every kind of error the reader reports
SNIPPETS = [
    ("scalars", "a: 0x1F\nb: 1_000\nc: 1.50\nd: .5\ne: 2026-03-01\nf: on\ng: ~\nh: 'true'\ni: |\n  x\n"),
    ("chinese columns", "名称: 值\nb: [x, '客户', \"y\"]\n"),
    ("anchors", "a: &a\n  b: &b [1, 2]\nc: *a\nd: *b\n"),
    ("byte order mark", "\ufeffa: 1\n"),
    ("flow key", "? [a]\n: 1\n"),
    ("merge key", "x: &x {a: 1}\ny:\n  <<: *x\n"),
    ("duplicate key", "{a: 1, a: 2}\n"),
    ("python tag", "x: !!python/object/apply:os.system ['true']\n"),
    ("unclosed flow", "a: [1, 2"),
    ("mapping in plain", "a: b: c\n"),
    ("tab", "a:\n\tb: 1\n"),
    ("control character", "x: \x7f\n"),
    ("surrogate", "a: \ud800\n"),
    ("undefined alias", "a: *x\n"),
    ("duplicate anchor", "a: &x 1\nb: &x 2\n"),
    ("two documents", "a: 1\n---\nb: 2\n"),
    ("syntax error in the second document", "a: 1\n---\nb: [\n"),
    ("empty", ""),
    ("empty document", "---\n"),
]


def located(text, filename="t.yaml"):
    doc, problems = source.load_text(text, filename)
    return (None if doc is None else (doc.data, doc.places, doc.quoted)), problems


@pytest.fixture
def pure(monkeypatch):
    """Read with the pure-Python parser only, as on a PyYAML built without libyaml."""
    def read(text):
        with monkeypatch.context() as m:
            m.setattr(source, "_FAST_LOADER", None)
            return located(text)
    return read


def test_libyaml_is_used():
    assert source._FAST_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", BUNDLES, ids=[f"{p.parent.name}/{p.name}" for p in BUNDLES])
def test_same_values_places_and_problems_as_the_pure_parser(path, pure):
    text = path.read_text("utf-8")
    fast = located(text)
    assert fast == pure(text)
    assert fast[0] is not None or fast[1]


@pytest.mark.parametrize("text", [t for _, t in SNIPPETS], ids=[i for i, _ in SNIPPETS])
def test_snippets_read_the_same(text, pure):
    assert located(text) == pure(text)


def test_syntax_errors_keep_the_pure_parsers_wording_and_place():
    _, problems = located("a: [1, 2")
    assert [(p.line, p.col) for p in problems] == [(1, 9)]
    assert "expected ',' or ']', but got '<stream end>'" in problems[0].message


def test_an_alias_inside_its_own_anchor_is_a_located_problem():
    _, problems = located("bundle: x\na: &a [1, *a]\n")
    assert [(p.line, p.col) for p in problems] == [(2, 11)]
    assert "cannot refer to the value that contains it" in problems[0].message


def test_aliases_cannot_nest_deeper_than_the_limit():
    nested = "[" * 40 + "1" + "]" * 40
    text = f"a: &a {nested}\nb: &b {'[' * 20}*a{']' * 20}\nc: [[[[[*b]]]]]\n"
    doc, problems = source.load_text(text, "t.yaml")
    assert len(problems) == 1 and "aliases nest values deeper than 64 levels" in problems[0].message
    assert problems[0].path.startswith("c[0][0][0][0][0][0]")


def test_merged_directory_parts_keep_their_files():
    a, _ = source.load_text("bundle: x\nobjects: {}\n", "a.yaml")
    b, _ = source.load_text("title: 标题\n", "b.yaml")
    merged, problems = source.merge([a, b])
    assert problems == [] and merged.data == {"bundle": "x", "objects": {}, "title": "标题"}
    assert merged.place(("title",)) == ("b.yaml", 1, 8)
