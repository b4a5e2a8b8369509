"""Administrative divisions (SPEC §2 `region`): path checks, cascading selects and place names."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.regions import PSEUDO, children, is_known, load_regions, place_names, short_forms, short_name

DATA = Path(__file__).parent.parent / "engine" / "data" / "regions.json"


@pytest.mark.parametrize("path,known", [
    ("广东省/深圳市/南山区", True),
    ("广东省/深圳市", True),
    ("广东省", True),
    (" 广东省 ／ 深圳市 / 南山区 ", True),
    ("北京市/市辖区/海淀区", True),  # the municipalities keep the package's pseudo-city
    ("重庆市/县/巫山县", True),
    ("香港特别行政区/九龙/油尖旺区", True),
    ("广东省/深圳市/火星区", False),
    ("广东省/杭州市", False),  # exists, but not in that province
    ("广东/深圳/南山", False),  # names must be the official ones
    ("北京市/海淀区", False),
    ("广东省/深圳市/南山区/粤海街道", False),  # no street level in the data
    ("广东省//南山区", False),
    ("", False),
    ("  ", False),
])
def test_is_known(path, known):
    assert is_known(path) is known


def test_children_cascade():
    provinces = children("")
    assert 31 <= len(provinces) <= 34 and provinces[:2] == ["北京市", "天津市"]
    assert {"广东省", "浙江省", "内蒙古自治区", "香港特别行政区", "台湾省"} <= set(provinces)
    assert "深圳市" in children("广东省")
    assert "南山区" in children("广东省/深圳市")
    assert children("北京市") == ["市辖区"]
    assert children("广东省/深圳市/南山区") == []
    assert children("火星") == [] and children("广东省/火星市") == [] and children("a//b") == []


def test_children_are_copies():
    children("广东省").clear()
    assert "深圳市" in children("广东省")


def test_every_path_is_known():
    for province, cities in load_regions().items():
        for city, districts in cities.items():
            assert is_known(f"{province}/{city}") and all(is_known(f"{province}/{city}/{d}") for d in districts)


@pytest.mark.parametrize("name,short", [
    ("广东省", "广东"), ("杭州市", "杭州"), ("北京市", "北京"), ("内蒙古自治区", "内蒙古"), ("广西壮族自治区", "广西"),
    ("宁夏回族自治区", "宁夏"), ("新疆维吾尔自治区", "新疆"), ("西藏自治区", "西藏"), ("香港特别行政区", "香港"),
    ("恩施土家族苗族自治州", "恩施"), ("博尔塔拉蒙古自治州", "博尔塔拉"), ("积石山保安族东乡族撒拉族自治县", "积石山"),
    ("龙胜各族自治县", "龙胜"), ("三都水族自治县", "三都"), ("东乡族自治县", "东乡"), ("鄂伦春自治旗", "鄂伦春"),
    ("阿里地区", "阿里"), ("锡林郭勒盟", "锡林郭勒"), ("浦东新区", "浦东"), ("神农架林区", "神农架"),
    ("万柏林区", "万柏林"), ("清新区", "清新"), ("峰峰矿区", "峰峰"), ("城区", "城区"), ("东区", "东区"),
])
def test_short_name(name, short):
    assert short_name(name) == short


def test_place_names():
    names = place_names()
    assert {"广东省", "广东", "杭州市", "杭州", "内蒙古", "广西", "南山区", "南山", "恩施", "恩施州"} <= names
    assert not names & PSEUDO
    assert all(len(n) >= 2 for n in names)
    assert short_forms("恩施土家族苗族自治州") == {"恩施", "恩施州"} and short_forms("城区") == set()


def test_data_file_is_compact():
    assert DATA.stat().st_size < 200_000
    assert json.loads(DATA.read_text("utf-8")) == load_regions()
