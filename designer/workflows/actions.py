"""What an automation does (SPEC §7): the action registry, text templates and the values actions read.

Actions run inside the caller's transaction — the save that triggered a
`created`/`changed` automation, or the worker's transaction of a date/cron
firing — so their effects commit exactly when the cause does. Every effect
carries an idempotency key derived from the firing's key (`ctx.key`), so a
retried firing never writes a task, message or webhook twice.

A batched import runs the `created` automations of its new records before
inserting them (`Held`): the actions that can (`HELD`) change the record in
memory and keep their event rows for one bulk INSERT, through the same code
a single save runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import codecs
from engine.durations import parse_duration
from engine.expr.codegen import compile_expression
from engine.fields import TYPES

from ..imports.inserts import insert_values
from ..models import Record, Task, WorkflowEvent
from . import notify

_TEMPLATE = re.compile(r"\{([^{}]*)\}")
#: action name -> fn(ctx, body, index) -> outcome in words
ACTIONS: dict = {}
#: actions that can run on a record not inserted yet: they change only its owner and write only events
HELD = frozenset({"assign"})
_compiled: dict = {}


def action(name: str):
    def register(fn):
        if name in ACTIONS:
            raise RuntimeError(f"workflow action `{name}` is registered twice")
        ACTIONS[name] = fn
        return fn
    return register


@dataclass
class Context:
    """One run of an automation's actions on one record."""

    session: Session
    current: object
    record: Record
    #: the record's typed values with formulas and classifications (what expressions read)
    values: dict
    now: datetime
    #: the automation (its document entry)
    rule: dict
    #: idempotency key of this run; each effect appends its own suffix
    key: str
    #: why it runs, in words ("tier changed A → C", "contract_end 2026-05-01 − 30d")
    cause: str
    #: typed values before the change (`changed` automations), else None
    old: dict | None = None
    outcomes: list = field(default_factory=list)
    #: a batched import's held effects (the record is not inserted yet), else None: written as they happen
    held: Held | None = None


class Held:
    """What automations run on a batch of new records before the INSERT write: their event rows, kept for
    one `insert_values`, and the answers `assign` needs, asked once per batch (`assign.BatchLookups`)."""

    def __init__(self, session: Session):
        from .assign import BatchLookups
        self.events: list[dict] = []
        self.lookups = BatchLookups(session)

    def write(self, session: Session):
        """Write what was held (after the records are inserted)."""
        self.lookups.finish()
        insert_values(session, WorkflowEvent.__table__, self.events)


def event(ctx: Context, **row):
    """Record a workflow event of the run: in the session, or held for the batch."""
    row = {"record_id": ctx.record.id, "at": ctx.now, "rule": ctx.rule["key"], **row}
    if ctx.held is None:
        ctx.session.add(WorkflowEvent(**row))
    else:  # written by one `insert_values`: every row with every column
        ctx.held.events.append({"cause": "", "detail": {}, "actor": None, **row})


# -- values and expressions -----------------------------------------------------------------------------------

def typed_values(session: Session, current, record: Record, now: datetime) -> dict:
    """The record as expressions see it: typed fields, system attributes, children, formulas, classifications."""
    from ..records.store import children_of, raw_of
    clf = current.bundle.classifier(record.object)
    children = children_of(session, record, current.bundle.objects[record.object].children)
    typed = clf.coerce(raw_of(record, children), problems=[])
    return clf.classify(typed, now).record_with_values()


def old_values(current, record: Record, old_data: dict, old_computed: dict) -> dict:
    """Typed values before a change: the stored data and the computed values that were stored with it."""
    bundle = current.bundle
    obj = bundle.objects[record.object]
    clf = bundle.classifier(record.object)
    raw = dict(old_data or {})
    raw.update(id=str(record.id), owner=record.owner, created_at=record.created_at, updated_at=record.updated_at)
    typed = clf.coerce(raw, problems=[])
    for key, f in obj.fields.items():
        if f.formula is not None and (old_computed or {}).get(key) is not None:
            try:
                typed[key] = TYPES[f.type].coerce(old_computed[key], f.spec, clf._ctx)
            except ValueError:
                typed[key] = None
    for c in bundle.classifications_of(record.object):
        typed[c.key] = (old_computed or {}).get(c.key)
    return typed


def compiled(bundle, path: tuple, *, mode: str = "truth", old: bool = False):
    """The compiled function of the checked expression at `path` of the bundle document (cached per bundle)."""
    key = (id(bundle), path, mode, old)
    got = _compiled.get(key)
    if got is None or got[0] is not bundle:  # an id is only unique while its bundle lives
        fn = compile_expression(bundle.module, bundle.checked[path], "x_" + "_".join(map(str, path)), mode=mode, old=old)
        if len(_compiled) > 2000:
            _compiled.clear()
        got = _compiled[key] = (bundle, fn)
    return got[1]


def holds(bundle, path: tuple, object_key: str, values: dict, at: datetime, old: dict | None = None) -> bool:
    """Whether the condition at `path` holds for `values` at `at` (a missing condition holds)."""
    if path not in bundle.checked:
        return True
    today, now = bundle.classifier(object_key).clock(at)
    return bool(compiled(bundle, path, old=old is not None)(values, today, now, None, old))


def render(text: str, values: dict, old: dict | None = None) -> str:
    """A template with `{name}` and `{old.name}` replaced by the values (nothing else is evaluated)."""
    def value(m):
        name = m.group(1).strip()
        source = values
        if name.startswith("old.") and old is not None:
            source, name = old, name[4:]
        return show(source.get(name))
    return _TEMPLATE.sub(value, text)


def show(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime | date | Decimal):
        return str(codecs.to_json(value))
    if isinstance(value, list):
        return "、".join(show(v) for v in value)
    return str(value)


# -- running ----------------------------------------------------------------------------------------------------

def run(ctx: Context) -> str:
    """Run the automation's actions in order and record the run on the record; the outcome in words."""
    for i, entry in enumerate(ctx.rule.get("do") or []):
        for name, body in entry.items():
            ctx.outcomes.append(ACTIONS[name](ctx, body, i))
    outcome = "; ".join(o for o in ctx.outcomes if o)
    event(ctx, kind="automation", cause=ctx.cause, detail={"key": ctx.key, "did": ctx.outcomes}, actor=None)
    return outcome


@action("task")
def _task(ctx: Context, body: dict, i: int) -> str:
    due = parse_duration(body.get("due")) if body.get("due") else None
    title = render(body.get("title", ""), ctx.values, ctx.old)[:300]
    made = []
    for user in notify.recipients(ctx.session, body.get("assignee", "owner"), ctx.record):
        key = f"{ctx.key}:task{i}:{user}"[:255]
        if ctx.session.scalar(select(Task.id).where(Task.key == key)) is None:
            ctx.session.add(Task(record_id=ctx.record.id, assignee=user, title=title, key=key, created_at=ctx.now,
                                 due_at=ctx.now + due if due is not None else None, status="open",
                                 cause=f"automation {ctx.rule['key']}"[:200]))
        made.append(user)
    return f"task “{title}” for {', '.join(made)}" if made else f"task “{title}”: nobody to assign it to"


@action("notify")
def _notify(ctx: Context, body: dict, i: int) -> str:
    text = render(body.get("text", ""), ctx.values, ctx.old)
    sent = []
    for user in notify.recipients(ctx.session, body.get("to"), ctx.record):
        notify.notify(ctx.session, to=user, record_id=ctx.record.id, kind="automation", text=text,
                      key=f"{ctx.key}:notify{i}:{user}"[:240], now=ctx.now)
        sent.append(user)
    return f"told {', '.join(sent)}: {text}" if sent else "notify: no recipient"


@action("assign")
def _assign(ctx: Context, body: dict, i: int) -> str:
    from . import assign
    user = assign.choose(ctx, body, i)
    if user is None:
        return "assign: no user to assign"
    return assign.give(ctx, user, body.get("strategy", ""))


@action("set")
def _set(ctx: Context, body: dict, i: int) -> str:
    from ..records.store import save
    path = ("automations", _index(ctx), "do", i, "set")
    bundle = ctx.current.bundle
    today, now = bundle.classifier(ctx.record.object).clock(ctx.now)
    values = {}
    for fk in body:
        fn = compiled(bundle, path + (fk,), mode="value", old=ctx.old is not None)
        values[fk] = codecs.to_json(fn(ctx.values, today, now, None, ctx.old))
    changed = {k: v for k, v in values.items() if ctx.record.data.get(k) != v}
    if not changed:
        return "set: nothing to change"
    save(ctx.session, ctx.current, f"automation:{ctx.rule['key']}"[:150], ctx.record.object, changed,
         record=ctx.record, now=ctx.now, allow_duplicates=True)
    ctx.values = typed_values(ctx.session, ctx.current, ctx.record, ctx.now)
    return "set " + ", ".join(f"{k} = {show(v)}" for k, v in changed.items())


@action("webhook")
def _webhook(ctx: Context, body: dict, i: int) -> str:
    payload = {"automation": ctx.rule["key"], "cause": ctx.cause, "key": f"{ctx.key}:webhook{i}",
               "record": {"id": ctx.record.id, "object": ctx.record.object, "owner": ctx.record.owner,
                          "title": ctx.record.title, "data": ctx.record.data, "computed": ctx.record.computed},
               "at": ctx.now.isoformat()}
    notify.webhook(ctx.session, url=body.get("url"), body=payload, key=f"{ctx.key}:webhook{i}"[:240], now=ctx.now)
    return f"webhook to {body.get('url')}"


@action("to_pool")
def _to_pool(ctx: Context, body, i: int) -> str:
    from . import pools
    pool_key = body.get("pool") if isinstance(body, dict) else body
    reason = body.get("reason") if isinstance(body, dict) else None
    pool = pools.pool_for(ctx.current.bundle, ctx.record.object, pool_key)
    if pool is None:
        return "to_pool: the object has no pool"
    if ctx.record.pool is not None:
        return f"to_pool: already in {ctx.record.pool}"
    text = render(reason, ctx.values, ctx.old) if reason else f"automation {ctx.rule['key']}: {ctx.cause}"
    pools.put_in_pool(ctx.session, ctx.current, ctx.record, pool, text, ctx.now, kind="pool_in", actor=None)
    return f"moved to pool {pool.key}"


def _index(ctx: Context) -> int:
    """The automation's position in the document (checked expressions are kept by path)."""
    autos = ctx.current.bundle.document.get("automations") or []
    return next(i for i, a in enumerate(autos) if isinstance(a, dict) and a.get("key") == ctx.rule["key"])
