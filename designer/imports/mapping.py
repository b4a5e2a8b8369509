"""Which column of a file holds which field: guessed from the headings, then edited by the importer.

Headings are compared to field labels and keys after NFKC, case folding and
dropping white space and required-markers (`客户名称*`, `手机号（必填）`), then
by likeness (synonyms, one inside the other) and by the values of the column,
so a sheet typed by hand in Excel maps without help. A child table has one
more target, the column that names each row's parent (`PARENT`).
"""
from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from engine.fields import TYPES, Context

from .synonyms import GROUPS

#: a column nobody imports
IGNORE = ""
#: a child table's column that holds the parent's match key
PARENT = "@parent"

_MARKERS = re.compile(r"[*＊]|[（(]\s*(必填|required)\s*[)）]")
#: field types a parent can be matched by (name, phone, autonumber and the like)
MATCH_TYPES = ("text", "phone", "autonumber", "email", "url")


def normalised(text) -> str:
    text = unicodedata.normalize("NFKC", str(text or "")).casefold()
    return "".join(_MARKERS.sub("", text).split())


def targets(obj) -> list:
    """Fields an import may fill: every field a person could type (not formulas; autonumbers are assigned)."""
    return [f for f in obj.fields.values() if f.formula is None and f.type != "autonumber"]


def match_fields(obj) -> list:
    """Fields of a parent object its children can be matched by: the title first, then name-like fields."""
    fields = [f for f in obj.fields.values() if f.formula is None and f.type in MATCH_TYPES]
    return sorted(fields, key=lambda f: f.key != obj.title)


#: how a column's target was found: its heading is a field's label or key; it is like one (a synonym, a
#: part of it); the column's values are of a field's type. Only the first is certain: the page asks the
#: importer to check the others.
EXACT, SIMILAR, CONTENT = "exact", "similar", "content"
#: the least likeness (`_likeness`) a heading needs to be taken for a field
_ENOUGH = 0.6
#: field types a column is recognised by from its values alone (a date or a number could be any such field)
_SNIFFED = ("phone", "email", "url")


def judge(headers: list[str], obj, *, parent=None, match: str | None = None,
          samples=None) -> list[tuple[str, str | None]]:
    """(target, how it was found: EXACT, SIMILAR, CONTENT or None) per column; each field at most once.

    First every heading that is a field's label or key (EXACT). For a child
    table (`parent` given), the column headed like the parent's match field
    (or like the parent object itself, `客户`) names the parent. Then the
    headings left are paired with the fields left by likeness (SIMILAR):
    synonyms (`synonyms.GROUPS`: `客户名称` for 公司名称), one containing the
    other (`年采购额` in 预计年采购额), or nearly the same (`订单编号`, 订单号),
    the best pairs first. Last, a column whose sample values (`samples`: the
    first rows' cells) are nearly all phone numbers, e-mail addresses or web
    addresses goes to the one field left of that type (CONTENT).
    """
    fields = targets(obj)
    by_name: dict[str, str] = {}
    for f in fields:
        by_name.setdefault(normalised(f.label), f.key)
    for f in fields:
        by_name.setdefault(normalised(f.key), f.key)
    parent_names = set()
    if parent is not None:
        f = parent.fields.get(match or "")
        parent_names = {normalised(parent.label)} | ({normalised(f.label), normalised(f.key)} if f is not None else set())
    out: list[tuple[str, str | None]] = []
    used = set()
    for heading in headers:
        name = normalised(heading)
        if parent is not None and PARENT not in used and name in parent_names:
            target = PARENT
        else:
            target = by_name.get(name, IGNORE)
        if target in used:
            target = IGNORE
        if target:
            used.add(target)
        out.append((target, EXACT if target else None))
    left = [f for f in fields if f.key not in used]
    pairs = sorted(((score, i, f.key) for i, heading in enumerate(headers) if not out[i][0]
                    for f in left if (score := _likeness(normalised(heading), f)) >= _ENOUGH),
                   key=lambda p: (-p[0], p[1]))
    for _score, i, key in pairs:
        if not out[i][0] and key not in used:
            out[i] = (key, SIMILAR)
            used.add(key)
    for i, key in _sniffed([f for f in fields if f.key not in used], out, samples or []):
        out[i] = (key, CONTENT)
    return out


def _groups(name: str) -> set[int]:
    return {g for g, (_type, terms) in enumerate(_TERMS) if name in terms}


def _likeness(heading: str, f) -> float:
    """How much a (normalised) heading looks like it names field `f`, from 0 to 1.

    Chinese names the thing last (企业邮箱 is a mailbox, 联系人职位 a job
    title): a heading ending in a label or a synonym names that, one that
    only starts with it names something else."""
    if not heading:
        return 0.0
    best = 0.0
    # ending in a synonym counts for the groups a type holds (企业邮箱, 办公电话): ending in a general word
    # (目标客户, 产品名称) does not make a heading the customer's name
    mine = _groups(heading) | {g for g, (type_name, terms) in enumerate(_TERMS)
                               if type_name and any(len(t) >= 2 and heading.endswith(t) for t in terms)}
    for name in (normalised(f.label), normalised(f.key)):
        if not name:
            continue
        if mine & _groups(name):
            best = max(best, 0.9 if heading in _TERMS_ALL else 0.8)
        short, long = sorted((heading, name), key=len)
        if short in long:
            # a heading inside the label names it (年采购额, 预计年采购额); a label inside a longer heading,
            # if the heading ends with it or adds little (联系人手机号)
            if len(short) >= 2 and (short == heading or heading.endswith(name) or len(short) >= 0.8 * len(long)):
                best = max(best, 0.5 + 0.4 * len(short) / len(long))
        elif len(short) >= 2 and (ratio := SequenceMatcher(None, heading, name).ratio()) >= 0.75:
            best = max(best, 0.5 + 0.3 * ratio)  # 订单编号 for 订单号
    if any(_TERMS[g][0] == f.type for g in mine):
        best = max(best, 0.8)
    return best


def _sniffed(left: list, out: list, samples) -> list[tuple[int, str]]:
    """(column, field) for the unmapped columns whose sample values are of a type only one field left has."""
    ctx = Context(None)  # phone numbers and addresses need no timezone
    found, taken = [], set()
    for type_name in _SNIFFED:
        of_type = [f for f in left if f.type == type_name]
        if len(of_type) != 1:
            continue
        f = of_type[0]
        for i, (target, _how) in enumerate(out):
            values = [row[i] for row in samples if i < len(row) and str(row[i] or "").strip()]
            if target or i in taken or len(values) < 3:
                continue
            good = 0
            for value in values:
                try:
                    TYPES[f.type].coerce(value, f.spec, ctx)
                    good += 1
                except (ValueError, TypeError):  # FieldValueError is a ValueError
                    pass
            if good >= 0.8 * len(values):
                found.append((i, f.key))
                taken.add(i)
                break
    return found


_TERMS = tuple((type_name, frozenset(normalised(t) for t in terms)) for type_name, terms in GROUPS)
_TERMS_ALL = frozenset().union(*(terms for _type, terms in _TERMS))


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
