"""Duplicate-check keys (SPEC §2 `unique`), table-driven from tests/data/company_names.yaml."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from engine.dedupe import duplicate_key, normalize_company, normalize_text

NAMES = yaml.safe_load((Path(__file__).parent / "data" / "company_names.yaml").read_text("utf-8"))


@pytest.mark.parametrize("group", NAMES["same"], ids=lambda g: g[0])
def test_one_company(group):
    keys = {name: normalize_company(name) for name in group}
    assert len(set(keys.values())) == 1, keys


@pytest.mark.parametrize("a,b", NAMES["differ"], ids=lambda name: name)
def test_two_companies(a, b):
    assert normalize_company(a) != normalize_company(b)


@pytest.mark.parametrize("name,key", NAMES["keys"], ids=lambda name: name)
def test_company_key(name, key):
    assert normalize_company(name) == key


@pytest.mark.parametrize("raw,key", NAMES["text"], ids=repr)
def test_text_key(raw, key):
    assert normalize_text(raw) == key


@pytest.mark.parametrize("ftype,unique,value,key", [
    ("phone", True, "+86 138-1234-5678", "13812345678"),
    ("phone", {"mode": "warn"}, 13812345678, "13812345678"),
    ("phone", True, "0086 13812345678", "13812345678"),
    ("text", True, "  Ａｃｍｅ　 Ltd ", "acme ltd"),
    ("text", {"mode": "block", "match": "exact"}, "智云科技（杭州）", "智云科技(杭州)"),
    ("text", {"mode": "warn", "match": "company"}, "智云科技（杭州）有限公司", "智云科技"),
    ("text", {"match": "company"}, "Zhiyun Technology Co., Ltd.", "zhiyuntechnology"),
    ("email", True, "Li.Lei@Example.COM", "li.lei@example.com"),
    ("integer", True, 42, "42"),
    ("money", True, Decimal("8.50"), "8.50"),
    ("multiselect", True, ["华东", "重点", "华东"], "华东\n重点"),
    ("text", True, "", None),
    ("text", True, " \t", None),
    ("multiselect", True, [], None),
    ("text", True, None, None),
    ("text", {"match": "company"}, "（）", None),
    ("text", False, "张三", None),
    ("text", None, "张三", None),
], ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_duplicate_key(ftype, unique, value, key):
    assert duplicate_key(ftype, unique, value) == key


def test_same_key_for_either_order_of_options():
    assert duplicate_key("multiselect", True, ["a", "B"]) == duplicate_key("multiselect", True, ["b", "A"])


def test_unknown_match_is_an_error():
    with pytest.raises(ValueError, match="exact or company"):
        duplicate_key("text", {"match": "fuzzy"}, "x")
