"""The UI is Chinese first: every message the code marks for translation has a Chinese translation."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
METHODS = [("designer/**.py", "python"), ("designer/**/templates/**.html", "jinja2")]


def test_every_message_is_translated_to_chinese():
    used = {msg[2] for msg in extract_from_dir(str(ROOT), METHODS, keywords={"_": None, "gettext": None, "_l": None})
            if isinstance(msg[2], str)}
    with open(ROOT / "designer/translations/zh/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted(used - translated)
    assert not missing, "add these to designer/translations/zh (pybabel update, then compile): " + repr(missing)


def test_compiled_catalog_matches_the_source():
    from babel.messages.mofile import read_mo
    po = ROOT / "designer/translations/zh/LC_MESSAGES/messages.po"
    with open(po, "rb") as fh:
        source = {m.id: m.string for m in read_po(fh) if m.id and m.string}
    with open(po.with_suffix(".mo"), "rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id and m.string}
    assert compiled == source, "run: pybabel compile -d designer/translations"
