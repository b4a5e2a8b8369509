"""Every industry template in examples/ lints clean and classifies its committed sample data."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from designer.cli import DEMO_AS_OF, main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TEMPLATES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "bundle.yaml").is_file())


def test_five_industry_templates():
    assert {"manufacturing", "education", "medical", "retail", "saas"} <= set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_classifies_its_sample_data(name):
    folder = EXAMPLES / name
    runner = CliRunner()
    lint = runner.invoke(main, ["lint", str(folder / "bundle.yaml")])
    assert lint.exit_code == 0, lint.stderr
    result = runner.invoke(main, ["classify", str(folder / "bundle.yaml"), str(folder / "customers.jsonl"),
                                  "--object", "customer", "--as-of", DEMO_AS_OF])
    assert result.exit_code == 0, result.stderr[:2000]
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) >= 200
    from engine import load_bundle
    bundle = load_bundle(folder / "bundle.yaml")
    children = bundle.objects["customer"].children
    assert children and sum(len(r.get(k) or []) for r in rows for k in children) >= 200
    for c in bundle.classifications_of("customer"):
        seen = {v for r in rows for v in (r[c.key] if isinstance(r[c.key], list) else [r[c.key]])}
        if c.values:
            missing = {str(v) if c.type == "text" else v for v in c.values} - seen
            assert not missing, f"{c.key}: values never assigned in the sample data: {missing}"
        assert len(seen) >= 2, f"{c.key}: the sample data gives only {seen}"
        for rule in c.rules:
            assert rule.label, f"{c.key} rule {rule.index} has no label saying why"
        for r in rows[:20]:
            assert c.key in r["_explain"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_demo_summarises_template(name):
    result = CliRunner().invoke(main, ["demo", name, "--samples", "1"])
    assert result.exit_code == 0 and "位客户" in result.output and "命中规则" in result.output
