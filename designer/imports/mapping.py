"""Which column of a file holds which field: guessed from the headings, then edited by the importer.

Headings are compared to field labels and keys after NFKC, case folding and
dropping white space and required-markers (`客户名称*`, `手机号（必填）`), so
a sheet typed by hand in Excel maps without help. A child table has one
more target, the column that names each row's parent (`PARENT`).
"""
from __future__ import annotations

import re
import unicodedata

#: a column nobody imports
IGNORE = ""
#: a child table's column that holds the parent's match key
PARENT = "@parent"

_MARKERS = re.compile(r"[*＊]|[（(]\s*(必填|required)\s*[)）]")
#: field types a parent can be matched by (name, phone, autonumber and the like)
MATCH_TYPES = ("text", "phone", "autonumber", "email", "url")


def _norm(text) -> str:
    text = unicodedata.normalize("NFKC", str(text or "")).casefold()
    return "".join(_MARKERS.sub("", text).split())


def targets(obj) -> list:
    """Fields an import may fill: every field a person could type (not formulas; autonumbers are assigned)."""
    return [f for f in obj.fields.values() if f.formula is None and f.type != "autonumber"]


def match_fields(obj) -> list:
    """Fields of a parent object its children can be matched by: the title first, then name-like fields."""
    fields = [f for f in obj.fields.values() if f.formula is None and f.type in MATCH_TYPES]
    return sorted(fields, key=lambda f: f.key != obj.title)


def guess(headers: list[str], obj, *, parent=None, match: str | None = None) -> list[str]:
    """A target per column (IGNORE for none): by label, then by key; each field at most once.

    For a child table (`parent` given), the column headed like the parent's
    match field (or like the parent object itself, `客户`) names the parent.
    """
    by_name: dict[str, str] = {}
    for f in targets(obj):
        by_name.setdefault(_norm(f.label), f.key)
    for f in targets(obj):
        by_name.setdefault(_norm(f.key), f.key)
    parent_names = set()
    if parent is not None:
        f = parent.fields.get(match or "")
        parent_names = {_norm(parent.label)} | ({_norm(f.label), _norm(f.key)} if f is not None else set())
    out, used = [], set()
    for heading in headers:
        name = _norm(heading)
        if parent is not None and PARENT not in used and name in parent_names:
            target = PARENT
        else:
            target = by_name.get(name, IGNORE)
        if target in used:
            target = IGNORE
        if target:
            used.add(target)
        out.append(target)
    return out


def problems(columns: list[str], obj, *, child: bool = False) -> list[tuple[str, str]]:
    """Why a mapping cannot be run, as (code, field key) pairs for the page or the command line to phrase:
    `unknown` target, a field chosen `twice`, `no_parent` column in a child table, `nothing` imported."""
    allowed = {f.key for f in targets(obj)} | ({PARENT} if child else set())
    chosen = [c for c in columns if c]
    out = [("unknown", c) for c in sorted(set(chosen) - allowed)]
    out += [("twice", c) for c in sorted({c for c in chosen if chosen.count(c) > 1})]
    if child and PARENT not in chosen:
        out.append(("no_parent", ""))
    if not [c for c in chosen if c != PARENT]:
        out.append(("nothing", ""))
    return out


def unmapped_required(columns: list[str], obj) -> list:
    """Required fields no column fills (every row will fail unless a default fills them)."""
    chosen = set(columns)
    return [f for f in targets(obj) if f.spec.get("required") is True and f.key not in chosen
            and f.spec.get("default") is None]
