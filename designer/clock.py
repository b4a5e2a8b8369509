"""The app's one clock: the engine never reads time itself, so everything that needs "now" asks here.

Tests (and `--as-of` runs) pin it with `freeze`.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, UTC

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen or datetime.now(UTC)


@contextmanager
def freeze(at: datetime):
    global _frozen
    previous, _frozen = _frozen, at
    try:
        yield
    finally:
        _frozen = previous
