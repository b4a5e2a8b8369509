"""Loading the conformance vectors (tests/conformance, a verbatim copy of ../shared/spec/conformance)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

HERE = Path(__file__).parent / "conformance"


def load(name: str):
    return yaml.load((HERE / name).read_text("utf-8"), Loader=_Loader)


class _Loader(yaml.SafeLoader):
    """Vectors are data, not bundles: keep dates as text and numbers exact."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|false)$"), list("tf"))
_Loader.add_constructor("tag:yaml.org,2002:float", lambda loader, node: Decimal(loader.construct_scalar(node)))


def expression_bundle(vectors: dict, calendar: str) -> str:
    """A bundle text declaring the vectors' record and child fields, so expressions type-check against it."""
    def field(key, ftype, options):
        line = f"      - {{key: {key}, type: {ftype}"
        if key in options:
            line += ", options: [" + ", ".join(f"'{o}'" for o in options[key]) + "]"
        return line + "}"
    options = vectors.get("options", {})
    lines = ["bundle: conformance", f"timezone: {vectors['timezone']}", f"calendar: {calendar}", "objects:",
             "  customer:", "    fields:"]
    lines += [field(k, t, options) for k, t in vectors["fields"].items()]
    for child, fields in vectors.get("child_fields", {}).items():
        lines += [f"  {child}:", "    parent: customer", "    fields:"]
        lines += [field(k, t, options) for k, t in fields.items()]
    return "\n".join(lines) + "\n"


def same(expected, actual, type_: str | None) -> bool:
    """Compare a vector's expected result with an engine value, per the vectors' README."""
    if expected is None:
        return actual is None or actual == []
    if type_ == "date":
        return isinstance(actual, date) and not isinstance(actual, datetime) and actual.isoformat() == expected
    if type_ == "datetime":
        return isinstance(actual, datetime) and actual == datetime.fromisoformat(expected)
    if type_ == "duration":
        return isinstance(actual, timedelta) and actual == timedelta(seconds=int(expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, Decimal)):
        return isinstance(actual, (int, Decimal)) and Decimal(actual) == Decimal(expected)
    if isinstance(expected, list):
        return list(actual or []) == expected
    if isinstance(expected, str) and isinstance(actual, date) and not isinstance(actual, datetime):
        return actual.isoformat() == expected
    return expected == actual
