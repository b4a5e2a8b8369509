"""Field keys derived from labels: the admin types 客户名称, the bundle gets `ke_hu_ming_cheng`.

Keys are what expressions, imports and the API use, so they must be ASCII
snake_case (`^[a-z][a-z0-9_]{0,62}$`, as engine.bundle checks); Chinese is
spelled in pinyin (pypinyin, tone marks dropped, heteronyms by phrase).
"""
from __future__ import annotations

import re

from pypinyin import lazy_pinyin

_WORD = re.compile(r"[a-z0-9]+")
#: Longest key the engine accepts.
MAX = 63
#: Names every record already has or that expressions reserve (engine.bundle SYSTEM_ATTRIBUTES, `_clash`).
RESERVED = {"id", "created_at", "updated_at", "owner", "parent", "old"}


def key_for(label: str, taken=()) -> str:
    """A snake_case key for `label` that is not in `taken` (nor reserved): `_2`, `_3`... are added when needed."""
    words: list[str] = []
    for part in lazy_pinyin(label or ""):
        words += _WORD.findall(_split_camel(part).lower())
    key = "_".join(words)[:MAX].strip("_") or "field"
    if not key[0].isalpha():
        key = ("f_" + key)[:MAX]
    taken = set(taken) | RESERVED
    if key not in taken:
        return key
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = key[: MAX - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _split_camel(text: str) -> str:
    """`AnnualRevenue` -> `Annual_Revenue`, so English labels snake_case the way people expect."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
