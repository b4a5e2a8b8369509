"""The template market (模板市场): the industry bundles under `examples/`, installed into the draft in one click.

Each template is a directory with a `bundle.yaml` (commented, so a consultant
can read it) and a `README.md` whose first paragraph describes it. Installing
replaces the draft only; the admin still previews and publishes.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import current_app

from engine import source as bundle_source

#: The examples shipped with tierwise (a checkout or an sdist); STUDIO_TEMPLATES overrides it.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "examples"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def directory() -> Path:
    return Path(current_app.config.get("STUDIO_TEMPLATES") or DEFAULT_DIR)


def available() -> list[dict]:
    """[{"name", "title", "description"}] of every template directory, by name."""
    root = directory()
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if _NAME.match(path.name) and (path / "bundle.yaml").is_file():
            out.append({"name": path.name, "title": _title(path), "description": _description(path)})
    return out


def source(name: str) -> str | None:
    """The template's bundle text, or None when there is no template of that name."""
    if not _NAME.match(name or ""):
        return None
    path = directory() / name / "bundle.yaml"
    if not path.is_file():
        return None
    return path.read_text("utf-8")


def _title(path: Path) -> str:
    located, _ = bundle_source.load_text((path / "bundle.yaml").read_text("utf-8"), "bundle.yaml")
    data = located.data if located is not None else None
    title = data.get("title") if isinstance(data, dict) else None
    return title if isinstance(title, str) and title else path.name


def _description(path: Path) -> str:
    """The README's first paragraph and the list after it, as plain text with its line breaks.

    The card shows text, never HTML, so the Markdown is taken out (`**近一年
    实际采购额**` reads 近一年实际采购额) rather than rendered; list items
    start with "• " on lines of their own.
    """
    readme = path / "README.md"
    if not readme.is_file():
        return ""
    blocks: list[list[str]] = [[]]
    for line in readme.read_text("utf-8").splitlines():
        text = line.strip()
        if text.startswith(("#", "```")) or not text:
            if blocks[-1]:
                if len(blocks) == 2 or text.startswith("```"):
                    break
                blocks.append([])
            continue
        if len(blocks) == 2 and not _LIST_ITEM.match(text):
            break  # the second block is shown only when it is a list
        blocks[-1].append(text)
    if blocks[-1] and len(blocks) == 2 and not _LIST_ITEM.match(blocks[-1][0]):
        blocks.pop()
    return "\n".join(plain_text(line) for block in blocks for line in block)


_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
#: `*` may mark emphasis inside a word (客户按**近一年**分), `_` only between words (r_level stays)
_EMPHASIS = (re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1(?!\*)"), re.compile(r"(?<!\w)(__|_)(?=\S)(.+?)(?<=\S)\1(?!\w)"))


def plain_text(line: str) -> str:
    """One line of Markdown as the text a reader sees: no emphasis marks, code ticks or link targets."""
    line = _LIST_ITEM.sub("• ", line.strip(), count=1)
    out, last = [], 0
    for m in _CODE.finditer(line):
        out.append(_inline(line[last:m.start()]))
        out.append(m.group(2).strip())
        last = m.end()
    out.append(_inline(line[last:]))
    return "".join(out)


def _inline(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    previous = None
    while previous != text:  # nested emphasis: ***a*** or **_a_**
        previous = text
        for pattern in _EMPHASIS:
            text = pattern.sub(r"\2", text)
    return text
