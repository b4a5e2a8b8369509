"""Which bundle is in force, compiled once per version per process.

Every request asks the database for the newest version id (one indexed
read) and reuses the compiled bundle for it, so a publish made by another
process or host takes effect on the next request everywhere.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import Bundle, load_bundle_text

from ..models import BundleVersion

_lock = threading.Lock()
#: (database URL, version) -> compiled bundle; versions are immutable, so entries never go stale
_compiled: dict[tuple[str, int], Bundle] = {}


@dataclass(frozen=True)
class Current:
    version: int
    bundle: Bundle


class NoBundle(LookupError):
    """Nothing has been published yet."""


def current(session: Session) -> Current:
    version = session.scalar(select(func.max(BundleVersion.id)))
    if version is None:
        raise NoBundle("no bundle has been published yet; run `tierwise publish BUNDLE`")
    return Current(version, compiled(session, version))


def compiled(session: Session, version: int) -> Bundle:
    key = (session.get_bind().url.render_as_string(hide_password=False), version)
    bundle = _compiled.get(key)
    if bundle is None:
        row = session.get(BundleVersion, version)
        if row is None:
            raise NoBundle(f"no bundle version {version}")
        bundle = load_bundle_text(row.source, row.filename)
        with _lock:
            _compiled[key] = bundle
            while len(_compiled) > 8:  # the newest few, for requests still using an older version
                del _compiled[next(iter(_compiled))]
    return bundle
