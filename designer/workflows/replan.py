"""Planning every record again after a large publish, a chunk at a time, after the publish commits.

A publish reclassifies every record in SQL in a minute at a million
customers, but planning each record's follow-ups, reclaims, date
automations and time-driven instants again is Python, about a millisecond a
record (follow-ups set-based per chunk, a fraction of that): twenty
minutes in the publish's transaction, with SQLite's only write lock held
(every rep's save waits, then fails) and on PostgreSQL the rewritten
records locked. Beyond `schedule.INLINE` records, `schedule.after_publish`
leaves them here instead: chains of `replan` firings on the durable
schedule, each link planning the next `CHUNK` records of its chain (in id
order, object after object) and planning the next link in the same
transaction. The workers run them like any firing — exactly once, resumed
after a crash, a short transaction per chunk with the web's writes in
between (the worker runs in `tierwise serve` by default). On PostgreSQL the
records are split into `STRIPES` chains by id, and each claim of a worker
takes one link at most, so N workers plan N chunks side by side.

Meanwhile a record not yet reached keeps its firings of the older version.
They stay correct because every handler decides under the rules current
when it fires: a time-driven instant reclassifies under them, a date
automation checks its date and condition again, a reclaim checks
`reclaim_when` again (and plans what applies if it no longer holds), a
reminder checks its due time again (a moved one is cancelled; the link
plans the new one). Lists show the record's older follow-up due time until
its link runs. Every
link plans as of the publish's instant, as the publish itself would have:
what fell due since fires at once. A record saved meanwhile was planned by
its save; planning it again gives the same firings.

A newer publish cancels the chains (`supersede`): it plans every record
itself. `progress_of` tells the page how far the chains have come.
"""
from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..bundles.workspace import current
from ..clock import now
from ..models import Firing, Record
from .schedule import Cancel, handler, plan, plan_published, published_after
from .worker import run_one

KIND = "replan"
#: records planned per link of a chain (one transaction of the worker: about a second)
CHUNK = 1000
#: chains side by side, each over its own range of every object's ids: on PostgreSQL several workers (on
#: any number of hosts) take a link each (`handler(chunked=True)`: one link per claim); SQLite has one
STRIPES = {"postgresql": 4, "sqlite": 1}


def start(session: Session, current, objects: list[str], now: datetime) -> list[Firing]:
    """Plan the first link of each chain for the records of `objects` (in the publish's transaction): due at
    the publish's instant, so the workers take them at once. Each chain gets a stripe of every object's ids,
    of about the same number of records (`ntile` over the ids)."""
    n = STRIPES.get(session.get_bind().dialect.name, 1)
    ranked = select(Record.id, func.ntile(n).over(order_by=Record.id).label("stripe"))
    chains: list[dict] = [{"segments": [], "total": 0} for _ in range(n)]
    for key in objects:
        r = ranked.where(Record.object == key).subquery()
        for stripe, lo, hi, count in session.execute(select(r.c.stripe, func.min(r.c.id), func.max(r.c.id),
                                                            func.count()).group_by(r.c.stripe)):
            chain = chains[stripe - 1]
            chain["segments"].append([key, lo - 1, hi])
            chain["total"] += count
    links = []
    for i, chain in enumerate(c for c in chains if c["segments"]):
        payload = {**chain, "chain": i, "segment": 0, "after": chain["segments"][0][1], "done": 0,
                   "at": now.isoformat()}
        links.append(plan(session, key=_key(current.version, i, 0, payload["after"]), kind=KIND, record_id=None,
                          due_at=now, payload=payload, version=current.version))
    return links


def supersede(session: Session, current, now: datetime):
    """Cancel the chains of an older version (a newer publish plans every record again itself)."""
    session.execute(update(Firing).where(Firing.kind == KIND, Firing.status == "pending",
                                         Firing.bundle_version != current.version)
                    .values(status="cancelled", finished_at=now,
                            outcome=f"version {current.version} was published: it plans every record again")
                    .execution_options(synchronize_session=False))


def progress_of(session: Session, version: int) -> dict | None:
    """{"done", "total", "finished", "failing"} of `version`'s chains together, or None when the publish
    planned every record itself. `failing`: while a next link keeps failing, its error and when it is tried
    again ({"error", "retry_at"}), else None."""
    links = session.execute(select(Firing.status, Firing.payload, Firing.attempts, Firing.outcome, Firing.due_at)
                            .where(Firing.kind == KIND, Firing.bundle_version == version)).all()
    if not links:
        return None
    chains: dict[int, list] = {}
    for link in links:
        chains.setdefault(link.payload["chain"], []).append(link)
    done = total = 0
    failing = None
    for chain in chains.values():
        pending = [link for link in chain if link.status == "pending"]
        total += chain[0].payload["total"]
        done += min(pending[0].payload["done"], chain[0].payload["total"]) if pending else chain[0].payload["total"]
        if pending and pending[0].attempts and failing is None:
            failing = {"error": pending[0].outcome, "retry_at": pending[0].due_at.isoformat()}
    finished = not any(link.status == "pending" for link in links)
    return {"done": done, "total": total, "finished": finished, "failing": failing}


def run_here(factory, version: int, progress=None) -> dict | None:
    """Run `version`'s chains in this process until they are done (`tierwise publish --wait`), a link a
    transaction as a worker's claim would take it: on SQLite under the write lock, on PostgreSQL skipping a
    link another worker holds, so a worker running meanwhile shares the work and no link runs twice.
    `progress(state)` after each link. Stops early, leaving it to the workers, when what is left is a link
    that failed and waits for its retry, or nothing is due. Returns the chains' state (`progress_of`)."""
    while True:
        with factory() as s:
            sqlite = s.get_bind().dialect.name == "sqlite"
            if sqlite:
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            at = now()
            query = select(Firing).where(Firing.kind == KIND, Firing.status == "pending",
                                         Firing.bundle_version == version, Firing.due_at <= at) \
                .order_by(Firing.id).limit(1)
            link = s.scalar(query if sqlite else query.with_for_update(skip_locked=True))
            if link is not None:
                run_one(s, current(s), link, at)
                s.commit()
            # none free: on PostgreSQL maybe every due link is another worker's right now
            held = link is None and not sqlite and s.scalar(query.with_only_columns(Firing.id)) is not None
            state = progress_of(s, version)
        if progress is not None and state is not None:
            progress(state)
        if state is None or state["finished"] or (link is None and not held):
            return state
        if held:
            time.sleep(0.2)


@handler(KIND, chunked=True)  # one link per claim; and a chain stopped half-way would leave records unplanned
def run_link(session: Session, current, firing: Firing, now: datetime) -> str:
    """Plan the chain's next chunk of records as of the publish's instant and plan the link after it."""
    if firing.bundle_version != current.version:
        raise Cancel(f"version {current.version} was published since: it plans every record again")
    p = firing.payload
    at = datetime.fromisoformat(p["at"])
    segments, index, after = p["segments"], p["segment"], p["after"]
    lock = session.get_bind().dialect.name == "postgresql"
    changes = []
    while index < len(segments):
        key, _lo, hi = segments[index]
        if key in current.bundle.objects:
            changes = published_after(session, current, key, at, after, CHUNK, upto=hi, lock=lock)
        if changes:
            break
        index += 1
        after = segments[index][1] if index < len(segments) else 0
    if not changes:
        return f"every record of this chain planned again ({p['done']:,})"
    plan_published(session, current, changes, at)
    done, after = p["done"] + len(changes), changes[-1].record_id
    plan(session, key=_key(current.version, p["chain"], index, after), kind=KIND, record_id=None,
         due_at=firing.due_at, payload={**p, "segment": index, "after": after, "done": done},
         version=current.version)
    return f"planned {len(changes):,} records of {segments[index][0]} again ({done:,} of {p['total']:,})"


def _key(version: int, chain: int, segment: int, after: int) -> str:
    return f"{KIND}:{version}:{chain}:{segment}:{after}"
