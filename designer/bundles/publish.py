"""Publishing a bundle as a new immutable version (issue: runtime, item 2).

A publish never deletes data: values of removed or retyped fields stay in
the records; the report says what changed so the admin sees it. Every record
is then reclassified in the database (`bulk.reclassify`), with history cause
`rules published`; the report says which objects fell back to Python and why.
"""
from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from engine import Bundle, load_bundle_text

from ..models import BundleVersion
from ..workflows.schedule import after_publish
from . import bulk, indexes
from .workspace import Current, NoBundle, current

def diff(old: Bundle | None, new: Bundle) -> dict:
    """What a publish changes in the data model: fields added, removed, retyped; classifications added, removed."""
    report = {"objects_added": [], "fields_added": [], "fields_removed": [], "fields_retyped": [],
              "classifications_added": [], "classifications_removed": []}
    if old is None:
        report["objects_added"] = list(new.objects)
        report["classifications_added"] = [c.key for c in new.classifications]
        return report
    for key, obj in new.objects.items():
        before = old.objects.get(key)
        if before is None:
            report["objects_added"].append(key)
            continue
        for fk, f in obj.fields.items():
            if fk not in before.fields:
                report["fields_added"].append(f"{key}.{fk}")
            elif before.fields[fk].type != f.type:
                report["fields_retyped"].append(f"{key}.{fk}: {before.fields[fk].type} -> {f.type}")
        report["fields_removed"] += [f"{key}.{fk}" for fk in before.fields if fk not in obj.fields]
    old_c = {(c.object, c.key) for c in old.classifications}
    new_c = {(c.object, c.key) for c in new.classifications}
    report["classifications_added"] = [f"{o}.{k}" for o, k in sorted(new_c - old_c)]
    report["classifications_removed"] = [f"{o}.{k}" for o, k in sorted(old_c - new_c)]
    return report


def publish(session: Session, source: str, filename: str, *, actor: str | None, note: str = "", now: datetime,
            progress=None, helpers: int = 0) -> BundleVersion:
    """Check `source`, store it as the newest version, index it and reclassify every record.

    Raises engine.BundleInvalid (nothing stored) when the bundle has problems.
    `progress(phase, done, total)` is called after each chunk of records reclassified (phase
    "reclassify") and each batch of records whose firings were planned again ("plan"). The report's
    `planned_later` counts the records whose firings the workers plan after the commit (`workflows.replan`:
    beyond `schedule.INLINE` records), 0 when the publish planned them all. `helpers`: processes that
    compute the reclassification beside this connection (`bulk.reclassify`), for a transaction that has
    written no records before.
    """
    bundle = load_bundle_text(source, filename)
    try:
        previous = current(session).bundle
    except NoBundle:
        previous = None
    row = BundleVersion(bundle_key=bundle.id, source=source, filename=filename, published_at=now,
                        published_by=actor, note=note, report=diff(previous, bundle))
    session.add(row)
    session.flush()
    indexes.sync(session, bundle)
    version = row.id
    cur = Current(version, bundle)
    outcome = bulk.reclassify(session, cur, now, progress=progress and partial(progress, "reclassify"),
                              helpers=helpers)
    later = after_publish(session, cur, now, progress=progress and partial(progress, "plan"))
    row = session.get(BundleVersion, version)
    row.report = {**row.report, "reclassified": outcome["reclassified"], "reclassified_in_sql": outcome["sql"],
                  "reclassified_in_python": [f"{k}: {why}" for k, why in outcome["python"].items()],
                  "planned_later": later}
    session.flush()
    return row
