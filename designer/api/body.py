"""Request bodies: JSON read with exact decimals, then sorted against the object before the store sees them.

The store stops at the first unknown key; an API caller should see every
problem of a request at once, so unknown keys (with a suggestion) and values
for computed fields are collected here and reported together with what the
store finds in the rest.
"""
from __future__ import annotations

import re

from flask import request

from engine import codecs
from engine.errors import FieldProblem
from engine.expr.typecheck import suggest

from .responses import ApiError
from .serialize import read_only

#: problems only the API reports, in the bundle's locale like the engine's own
MESSAGES = {
    "read_only": {"zh-CN": "由系统计算或分配，不能填写", "en": "is computed or assigned and cannot be set"},
    "no_user": {"zh-CN": "没有用户 {owner}", "en": "there is no user {owner}"},
    "not_owner": {"zh-CN": "负责人应为用户名", "en": "the owner must be a username"},
}

_VERSION = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def message(bundle, code: str, **params) -> str:
    entry = MESSAGES[code]
    text = entry.get(bundle.locale) or entry.get(bundle.locale.split("-")[0]) or entry["en"]
    return text.format(**params)


def json_object(*, optional: bool = False) -> dict:
    """The request body as a JSON object (numbers as Decimals); 400 when it is not one."""
    raw = request.get_data()
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "bad_request", "The request needs a JSON object as its body.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "The body is not UTF-8 text.") from None
    try:
        value = codecs.loads(text)
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "bad_request", f"The body must be a JSON object of field values, not {_kind(value)}.")
    return value


def _kind(value) -> str:
    return {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")


def expected_version(body: dict) -> int:
    """The version the caller read, from `If-Match: "<version>"` or `_version` in the body (which is removed)."""
    found = []
    header = request.headers.get("If-Match")
    if header is not None:
        m = _VERSION.match(header.strip())
        if m is None:
            raise ApiError(400, "bad_request", f'If-Match must name one record version, such as "3"; got {header!r}.')
        found.append(int(m.group(1)))
    if "_version" in body:
        value = body.pop("_version")
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise ApiError(400, "bad_request", f"_version must be the record's version (a whole number); got {value!r}.")
        found.append(int(value))
    if not found:
        raise ApiError(428, "version_required",
                       'Say which version of the record you are changing: send the header If-Match: "<version>" '
                       "(the `version` a GET returned) or `_version` in the body, so that a change someone else "
                       "made in the meantime is never overwritten.")
    if len(set(found)) > 1:
        raise ApiError(400, "bad_request", f"If-Match ({found[0]}) and _version ({found[1]}) disagree.")
    return found[0]


def split(bundle, obj, body: dict, *, current: dict | None = None, children: bool = False,
          prefix: str = "") -> tuple[dict, list[FieldProblem]]:
    """(values for the store, problems) from a body of field values.

    Unknown keys are problems (with the closest field suggested). A value
    for a computed or assigned field is a problem unless it is empty or what
    the record already holds (`current`), so a record read and sent back as
    a whole goes through. With `children`, lists under child keys are split
    the same way, row by row.
    """
    clf = bundle.classifier(obj.key)
    values: dict = {}
    problems: list[FieldProblem] = []
    for key, value in body.items():
        f = obj.fields.get(key)
        if f is not None:
            if read_only(f):
                if value is not None and value != (current or {}).get(key):
                    problems.append(FieldProblem(prefix + key, message(bundle, "read_only")))
                continue
            values[key] = value
        elif children and key in obj.children:
            values[key] = _rows(bundle, bundle.objects[key], value, problems, f"{prefix}{key}")
        else:
            names = list(obj.fields) + (obj.children if children else [])
            hint = suggest(str(key), names)
            problems.append(FieldProblem(prefix + str(key), clf.message("unknown_field", key=key),
                                         {"did_you_mean": hint.split("`")[1]} if hint else None))
    return values, problems


def _rows(bundle, child, rows, problems: list, path: str):
    """Child rows split like records; a row that is not an object is reported here and sent on empty."""
    if not isinstance(rows, list):
        return rows  # the engine says it is not a list of child records
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            row, found = split(bundle, child, row, prefix=f"{path}[{i}].")
            problems.extend(found)
        else:
            problems.append(FieldProblem(f"{path}[{i}]", bundle.classifier(child.key).message("not_record")))
            row = {}
        out.append(row)
    return out
