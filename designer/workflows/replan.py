"""Planning every record again after a large publish, a chunk at a time, after the publish commits.

A publish reclassifies every record in SQL in a minute at a million
customers, but planning each record's reclaims, date automations and
time-driven instants again is Python, about a millisecond a record: twenty
minutes in the publish's transaction, with SQLite's only write lock held
(every rep's save waits, then fails) and on PostgreSQL the rewritten
records locked. Beyond `schedule.INLINE` records, `schedule.after_publish`
leaves them here instead: a chain of `replan` firings on the durable
schedule, each planning the next `CHUNK` records (in id order, object after
object) and planning the next link in the same transaction. The workers run
it like any firing — exactly once, resumed after a crash, a short
transaction per chunk with the web's writes in between (the worker runs in
`tierwise serve` by default).

Meanwhile a record not yet reached keeps its firings of the older version.
They stay correct because every handler decides under the rules current
when it fires: a time-driven instant reclassifies under them, a date
automation checks its date and condition again, a reclaim checks
`reclaim_when` again (and plans what applies if it no longer holds). Every
link plans as of the publish's instant, as the publish itself would have:
what fell due since fires at once. A record saved meanwhile was planned by
its save; planning it again gives the same firings.

A newer publish cancels the chain (`supersede`): it plans every record
itself. `progress` tells the page how far the chain has come.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..models import Firing, Record
from .schedule import Cancel, handler, plan, plan_published, published_after

KIND = "replan"
#: records planned per link of the chain (one transaction of the worker: about a second)
CHUNK = 1000


def start(session: Session, current, objects: list[str], total: int, now: datetime) -> Firing:
    """Plan the chain's first link for the records of `objects` (in the publish's transaction): due at the
    publish's instant, so the workers take it at once."""
    upto = [session.scalar(select(func.max(Record.id)).where(Record.object == o)) or 0 for o in objects]
    payload = {"objects": objects, "upto": upto, "object": 0, "after": 0, "done": 0, "total": total,
               "at": now.isoformat()}
    return plan(session, key=_key(current.version, 0, 0), kind=KIND, record_id=None, due_at=now, payload=payload,
                version=current.version)


def supersede(session: Session, current, now: datetime):
    """Cancel the chain of an older version (a newer publish plans every record again itself)."""
    session.execute(update(Firing).where(Firing.kind == KIND, Firing.status == "pending",
                                         Firing.bundle_version != current.version)
                    .values(status="cancelled", finished_at=now,
                            outcome=f"version {current.version} was published: it plans every record again")
                    .execution_options(synchronize_session=False))


def progress(session: Session, version: int) -> dict | None:
    """{"done", "total", "finished", "failing"} of `version`'s chain, or None when the publish planned every
    record itself. `failing`: while the next link keeps failing, its error and when it is tried again
    ({"error", "retry_at"}), else None."""
    links = session.execute(select(Firing.status, Firing.payload, Firing.attempts, Firing.outcome, Firing.due_at)
                            .where(Firing.kind == KIND, Firing.bundle_version == version)).all()
    if not links:
        return None
    pending = [link for link in links if link.status == "pending"]
    payload = pending[0].payload if pending else max((link.payload for link in links), key=lambda p: p["done"])
    total = payload["total"]
    failing = None
    if pending and pending[0].attempts:
        failing = {"error": pending[0].outcome, "retry_at": pending[0].due_at.isoformat()}
    return {"done": total if not pending else min(payload["done"], total), "total": total,
            "finished": not pending, "failing": failing}


@handler(KIND, until_done=True)  # a chain that stopped half-way would leave records unplanned
def run_link(session: Session, current, firing: Firing, now: datetime) -> str:
    """Plan the next chunk of records as of the publish's instant and plan the link after it."""
    if firing.bundle_version != current.version:
        raise Cancel(f"version {current.version} was published since: it plans every record again")
    p = firing.payload
    at = datetime.fromisoformat(p["at"])
    objects, index, after = p["objects"], p["object"], p["after"]
    lock = session.get_bind().dialect.name == "postgresql"
    changes = []
    while index < len(objects):
        if objects[index] in current.bundle.objects:
            changes = published_after(session, current, objects[index], at, after, CHUNK, upto=p["upto"][index],
                                      lock=lock)
        if changes:
            break
        index, after = index + 1, 0
    if not changes:
        return f"every record planned again ({p['done']:,})"
    plan_published(session, current, changes, at)
    done, after = p["done"] + len(changes), changes[-1].record_id
    plan(session, key=_key(current.version, index, after), kind=KIND, record_id=None, due_at=firing.due_at,
         payload={**p, "object": index, "after": after, "done": done}, version=current.version)
    return f"planned {len(changes):,} records of {objects[index]} again ({done:,} of {p['total']:,})"


def _key(version: int, index: int, after: int) -> str:
    return f"{KIND}:{version}:{index}:{after}"
