"""Durations as bundles write them outside expressions: ``30m``, ``12h``, ``7d``, ``2w``, ``-1d``."""
from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(-?)(\d{1,6})([mhdw])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text) -> timedelta | None:
    """The duration `text` stands for, or None if it is not one."""
    m = _DURATION.match(str(text).strip())
    if not m:
        return None
    value = _UNITS[m.group(3)] * int(m.group(2))
    return -value if m.group(1) else value
