"""A file's values that are no option of their select field, and the options the importer maps them to.

Sheets kept by hand spell a choice their own way (机械制造 for 机械设备, 电器
for 电子电器): left alone, every such row fails. The mapping page lists, per
column mapped to a select or multi-select field, the values of the file that
are neither an option nor an option's label, most frequent first, each with
the option it looks most like preselected (to be checked, like a guessed
column). The importer's choices travel with the job (`options["values"]`:
column -> text -> option, or None to leave the cell empty), and
`Rows.values` applies them before the engine sees the row, so the preview,
the import and a resumed import read the same values. A value left unmapped
fails its rows as before, reported with the options.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import islice
from pathlib import Path

from engine.fields import items_of, option_index

from .mapping import normalised
from .sheets import SheetError, Table

#: rows read to list the values (a longer file's later values, if unmapped, fail their rows)
SCAN = 10_000
#: values listed per column, the most frequent
SHOWN = 30
#: the choice that leaves the cell empty (no option is spelled so: option values are the bundle's words)
EMPTY = "@empty"
#: the least likeness for an option to be preselected
_ENOUGH = 0.5
CHOICE_TYPES = ("select", "multiselect")


@dataclass
class Unmatched:
    """A column's values that are no option of its field."""

    column: int
    field: object
    #: (text, rows holding it, the option it looks like or None), most frequent first
    values: list = field(default_factory=list)
    #: other such values, not listed
    more: int = 0


def options_of(f) -> list[tuple[str, str]]:
    """(value, label) of each option of the select field `f`."""
    values, by_label = option_index(f.spec)
    labels = {v: label for label, v in by_label.items()}
    return [(v, labels.get(v, v)) for v in values]


def _known(f) -> set[str]:
    values, by_label = option_index(f.spec)
    return set(values) | set(by_label)


def _texts(type_: str, cell) -> list[str]:
    """The choices a cell of a select (`type_`) names, as text (a multi-select's split)."""
    if cell is None:
        return []
    if isinstance(cell, str):
        text = cell.strip()
    elif isinstance(cell, float) and cell.is_integer():
        text = str(int(cell))
    else:
        text = str(cell)
    if not text:
        return []
    return items_of(text) if type_ == "multiselect" else [text]


def guess(text: str, options: list[tuple[str, str]]) -> str | None:
    """The option `text` most looks like (one containing the other, else by shared characters), or None."""
    t = normalised(text)
    best, score = None, 0.0
    for value, label in options:
        for name in {value, label}:
            n = normalised(name)
            if not n or not t:
                continue
            if n == t:
                like = 1.0
            elif min(len(n), len(t)) >= 2 and (n in t or t in n):
                like = 0.9
            else:
                like = SequenceMatcher(None, t, n).ratio()
            if like > score:
                best, score = value, like
    return best if score >= _ENOUGH else None


class Found(list):
    """`Unmatched` columns, knowing how many rows were `read` and whether the table has more (`partial`)."""

    read: int = 0
    partial: bool = False


def find(table, columns: list[str], obj, *, limit: int = SCAN, shown: int = SHOWN) -> Found:
    """The unmatched values of each column of `table` mapped (`columns`) to a select field of `obj`, read from
    its first `limit` rows. An unreadable table lists nothing: the page says what is wrong with it elsewhere."""
    out = Found()
    fields = {i: obj.fields[t] for i, t in enumerate(columns)
              if t in obj.fields and obj.fields[t].type in CHOICE_TYPES}
    if not fields or table is None:
        return out
    try:
        stat = Path(table.path).stat()
        seen, out.read, out.partial = _seen(str(table.path), table.sheet, stat.st_mtime_ns, stat.st_size,
                                            tuple((i, f.type, frozenset(_known(f))) for i, f in fields.items()), limit)
    except (OSError, SheetError):
        return Found()
    for i, f in fields.items():
        if not seen[i]:
            continue
        options = options_of(f)
        common = seen[i].most_common(shown)
        out.append(Unmatched(i, f, [(text, n, guess(text, options)) for text, n in common],
                             more=len(seen[i]) - len(common)))
    return out


@lru_cache(maxsize=8)
def _seen(path: str, sheet, _mtime: int, _size: int, fields: tuple, limit: int) -> tuple[dict, int, bool]:
    """column -> Counter of its texts no option matches, rows read, whether the table has more: remembered for
    the file as it is, so that each press of Preview does not read a large workbook again (20,000 rows of an
    XLSX take a second and a half)."""
    seen: dict[int, Counter] = {i: Counter() for i, _type, _known in fields}
    read, partial = 0, False
    for _number, cells in islice(Table(Path(path), sheet).rows(), limit + 1):
        if read == limit:
            partial = True
            break
        read += 1
        for i, type_, known in fields:
            for text in _texts(type_, cells[i] if i < len(cells) else None):
                if text not in known:
                    seen[i][text] += 1
    return seen, read, partial


def apply(f, cell, chosen: dict[str, str | None]):
    """`cell` with its texts replaced by the chosen options (None: dropped); a multi-select's as a list."""
    texts = _texts(f.type, cell)
    if not any(t in chosen for t in texts):
        return cell
    if f.type != "multiselect":
        return chosen[texts[0]]
    out = [chosen.get(t, t) for t in texts]
    return [t for t in out if t is not None] or None


def stored(values: dict | None) -> dict[int, dict[str, str | None]]:
    """A job's `values` option (JSON: column numbers as text) as column -> text -> option."""
    return {int(column): dict(chosen) for column, chosen in (values or {}).items() if chosen}


def parse_choice(bundle, obj, spec: str) -> tuple[str, str, str, str | None]:
    """(object, field, text, option or None) of a command line's `FIELD:TEXT=OPTION` (`child.FIELD:…` for a
    child object's field; FIELD and OPTION by key or label; an empty OPTION leaves such cells empty).
    Raises ValueError saying what is wrong."""
    name, colon, rest = spec.partition(":")
    text, equals, option = rest.rpartition("=")
    if not colon or not equals or not text.strip():
        raise ValueError(f"`{spec}`: write FIELD:TEXT=OPTION, e.g. industry:机械制造=机械设备")
    owner, dot, name = name.strip().rpartition(".")
    target = obj if not dot else bundle.objects.get(owner)
    if target is None or (dot and target.key not in obj.children and target.key != obj.key):
        raise ValueError(f"`{spec}`: `{owner}` is not {obj.key} or one of its child objects")
    f = target.fields.get(name) or next((f for f in target.fields.values() if f.label == name), None)
    if f is None or f.type not in CHOICE_TYPES:
        raise ValueError(f"`{spec}`: {target.key} has no select field `{name}`")
    option = option.strip()
    if not option:
        return target.key, f.key, text.strip(), None
    for value, label in options_of(f):
        if option in (value, label):
            return target.key, f.key, text.strip(), value
    raise ValueError(f"`{spec}`: `{option}` is not an option of {f.label} "
                     f"({'、'.join(label for _v, label in options_of(f))})")


def hints(obj, found: Found, chosen: dict[int, dict]) -> list[str]:
    """What the command line says of the values no option matches and no `--value` maps: a line each, with the
    flag that would map it to the option it looks like."""
    out = []
    for u in found:
        for text, n, like in u.values:
            if text in chosen.get(u.column, {}):
                continue
            line = f"{obj.key}.{u.field.key}: {n:,} rows hold `{text}`, not an option of {u.field.label}"
            out.append(line + (f" (like {like}: --value '{u.field.key}:{text}={like}')" if like else ""))
        if u.more:
            out.append(f"{obj.key}.{u.field.key}: and {u.more:,} more such values")
    if found.partial:
        out.append(f"(values read from the first {found.read:,} rows)")
    return out
