"""Published versions in the designer: the history, a readable diff between any two, and restoring one as the draft.

Rolling back is not a special path: restoring puts an older version's source
in the draft, and the admin previews its impact and publishes it like any
other change, so a rollback is recorded, explained and reversible too.
"""
from __future__ import annotations

from difflib import unified_diff

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import BundleInvalid

from ..bundles.publish import diff as model_diff
from ..bundles.workspace import compiled
from ..models import BundleVersion


def history(session: Session) -> list[dict]:
    """Every published version, newest first."""
    rows = session.scalars(select(BundleVersion).order_by(BundleVersion.id.desc())).all()
    return [{"id": r.id, "bundle": r.bundle_key, "published_at": r.published_at.isoformat() if r.published_at else None,
             "published_by": r.published_by, "note": r.note or "", "report": r.report or {}} for r in rows]


def version(session: Session, version_id: int) -> BundleVersion | None:
    return session.get(BundleVersion, version_id)


def compare(session: Session, old: BundleVersion, new: BundleVersion) -> dict:
    """The text diff (unified, line by line) and what changes in the data model from `old` to `new`."""
    text = list(unified_diff(old.source.splitlines(), new.source.splitlines(), fromfile=f"v{old.id}",
                             tofile=f"v{new.id}", lineterm=""))
    try:
        model = model_diff(compiled(session, old.id), compiled(session, new.id))
    except BundleInvalid:  # an old version the current engine no longer accepts: the text diff still helps
        model = None
    return {"from": old.id, "to": new.id, "text_diff": text, "model_diff": model}
