"""Semantic bundle checks, table-driven from tests/data/bundle_problems.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine import BundleInvalid, load_bundle_text

DATA = yaml.safe_load((Path(__file__).parent / "data" / "bundle_problems.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_bundle_problem(case):
    text = DATA["head"] + case["source"] + case.get("tail", "")
    with pytest.raises(BundleInvalid) as info:
        load_bundle_text(text, "checks.yaml")
    problems = info.value.problems
    shown = "\n".join(map(str, problems))
    for want in case["problems"]:
        assert any(p.line == want["line"] and p.path == want["path"] and want["message"] in p.message
                   for p in problems), f"missing {want}; got:\n{shown}"
    assert len(problems) == len(case["problems"]), f"unexpected extra problems:\n{shown}"
