"""Structural check of a bundle against `schemas/bundle.schema.json`, with located, plain-worded problems."""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources

from jsonschema import Draft202012Validator

from .source import Located


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    text = resources.files("schemas").joinpath("bundle.schema.json").read_text("utf-8")
    return Draft202012Validator(json.loads(text))


def _describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = str(value)
    return repr(text if len(text) <= 40 else text[:40] + "…")


_TYPE_WORDS = {"number": "a number", "integer": "a whole number", "string": "text", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "nothing"}


def problems(doc: Located) -> list:
    """Every structural problem of `doc`, each at the most precise path jsonschema gives."""
    out = []
    seen = set()
    for error in validator().iter_errors(doc.data):
        if error.validator == "uniqueItems" and error.absolute_path and error.absolute_path[-1] == "options":
            continue  # reported by the semantic check, at the repeated option itself
        path, message = _explain(error)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        out.append(doc.problem(path, message))
    return out


def _explain(error) -> tuple[tuple, str]:
    path = tuple(error.absolute_path)
    v = error.validator
    inst = error.instance
    if v == "type":
        want = error.validator_value
        want = [want] if isinstance(want, str) else want
        words = " or ".join(_TYPE_WORDS.get(w, w) for w in want)
        return path, f"expected {words}, got {_describe(inst)}"
    if v == "enum":
        allowed = [str(x) for x in error.validator_value]
        close = difflib.get_close_matches(str(inst), allowed, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        return path, f"{_describe(inst)} is not one of: {', '.join(allowed)}{hint}"
    if v == "const":
        return path, f"expected {_describe(error.validator_value)}, got {_describe(inst)}"
    if v == "required":
        missing = [k for k in error.validator_value if isinstance(inst, dict) and k not in inst]
        return path, f"missing `{missing[0] if missing else error.validator_value}`"
    if v == "additionalProperties" and isinstance(inst, dict):
        known = list(error.schema.get("properties", {}))
        extra = [k for k in inst if k not in known]
        key = extra[0] if extra else ""
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else f"; allowed here: {', '.join(known)}"
        return path + (key,), f"unknown key `{key}`{hint}"
    if v == "not":
        return path, "this option does not apply here"
    if v == "pattern" and error.validator_value.startswith("^[a-z][a-z0-9_]"):
        return path, f"{_describe(inst)} is not a key: use lowercase letters, digits and _, starting with a letter (e.g. annual_revenue)"
    if v == "pattern":
        return path, f"{_describe(inst)} does not have the required form (pattern {error.validator_value})"
    if v == "propertyNames":
        return path, f"{error.message}"
    if v in ("minItems", "minProperties"):
        return path, "must not be empty" if error.validator_value == 1 else error.message
    if v == "maxProperties":
        return path, f"give exactly one of these keys, not {len(inst)}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return path, f"{_describe(inst)} is out of range ({v} {error.validator_value})"
    if v == "uniqueItems":
        return path, "items must not repeat"
    if v == "maxLength":
        return path, f"at most {error.validator_value} characters"
    return path, error.message
