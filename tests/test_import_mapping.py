"""Guessing which field a column of an imported file holds: by heading, by likeness, by the values
(cases in tests/data/import_headings.yaml)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from designer.imports.mapping import judge
from engine import load_bundle

ROOT = Path(__file__).resolve().parent.parent
DATA = yaml.safe_load((Path(__file__).parent / "data" / "import_headings.yaml").read_text("utf-8"))
BUNDLE = load_bundle(ROOT / DATA["bundle"])


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_columns_are_guessed(case):
    obj = BUNDLE.objects[case["object"]]
    parent = BUNDLE.objects[obj.parent] if obj.parent else None
    got = judge(case["headings"], obj, parent=parent, match=case.get("match"), samples=case.get("rows"))
    assert [list(g) for g in got] == case["expect"]
