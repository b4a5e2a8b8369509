"""The workspace's draft bundle: what the admin is editing in the designer, kept apart from what is published.

There is one draft per workspace (`BundleDraft` named "workspace"). It is
created on first use as a copy of the published source, or a skeleton when
nothing is published yet, and it is saved exactly as typed, even when it does
not parse, so nothing the admin wrote is ever lost; its problems are worked
out each time it is read. Checking a large bundle takes a while, so the
analysis is cached per source text: typing an expression in the designer
re-reads the same draft many times a second.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import Bundle, BundleInvalid, Problem
from engine import bundle as bundle_module
from engine import schema, source as bundle_source

from ..models import BundleDraft, BundleVersion

#: The draft's name; one workspace has one draft.
WORKSPACE = "workspace"
#: The file name problems are reported against (the draft is one YAML file).
FILENAME = "bundle.yaml"
#: A draft can hold at most what a bundle file may hold.
MAX_CHARS = bundle_source.MAX_BYTES

SKELETON = """\
# 工作区业务包：客户表单、分级规则和跟进策略。可在设计器中编辑，也可以直接修改这份 YAML。
bundle: workspace
title: 我的客户
locale: zh-CN
timezone: Asia/Shanghai
calendar: cn
objects:
  customer:
    label: 客户
    fields: []
"""


@dataclass(frozen=True)
class Analysis:
    """What a draft's text means: its plain document, its problems, and the bundle it compiles to."""

    #: plain JSON-ready data (None when the text is not YAML at all)
    document: object
    problems: list[Problem]
    #: the checked bundle, or None when there are problems
    bundle: Bundle | None
    #: the bundle as far as it could be checked (objects, fields, the rules that passed), for completions and
    #: the expression check while other parts of the draft still have problems; None when unreadable
    partial: Bundle | None


_lock = threading.Lock()
_cache: OrderedDict[str, Analysis] = OrderedDict()
#: Drafts remembered; a few admins editing at once, each with a couple of recent versions.
CACHE_SIZE = 16


def analyse(text: str) -> Analysis:
    """Parse and check `text` (cached by content)."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    with _lock:
        hit = _cache.get(digest)
        if hit is not None:
            _cache.move_to_end(digest)
            return hit
    result = _analyse(text)
    with _lock:
        _cache[digest] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _analyse(text: str) -> Analysis:
    located, problems = bundle_source.load_text(text, FILENAME)
    if located is None:
        return Analysis(None, problems, None, None)
    document = plain(located.data)
    if problems or not isinstance(located.data, dict):
        if not problems:
            problems = [located.problem((), "a bundle is a mapping with at least `bundle` and `objects`")]
        return Analysis(document, problems, None, None)
    try:
        return Analysis(document, [], bundle_module.build(located), None)
    except BundleInvalid as exc:
        return Analysis(document, exc.problems, None, _partial(located))


def _partial(located) -> Bundle | None:
    """The engine's checker run to the end without raising: what did check is usable (see `Analysis.partial`).

    engine.bundle keeps this step private because a bundle with problems must
    never classify live records; the designer only reads its names and types.
    """
    try:
        checker = bundle_module._Checker(located, schema.problems(located))
        return checker.run()
    except Exception:  # noqa: BLE001 - a draft broken in a way the checker did not foresee: no completions
        return None


def plain(value):
    """Loaded bundle data as JSON-ready values; exact decimals become ints or floats for the browser."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def problem_json(problem: Problem) -> dict:
    out = {"line": problem.line, "col": problem.col, "path": problem.path, "message": problem.message}
    if problem.kind:
        out["kind"] = problem.kind
    if problem.expr_col is not None:
        out["expr_col"] = problem.expr_col
    return out


# -- the stored draft ------------------------------------------------------------------------------------


def published(session: Session) -> BundleVersion | None:
    return session.scalar(select(BundleVersion).order_by(BundleVersion.id.desc()).limit(1))


def draft(session: Session, now: datetime) -> BundleDraft:
    """The workspace draft, created from the published bundle (or the skeleton) on first use."""
    row = session.scalar(select(BundleDraft).where(BundleDraft.name == WORKSPACE))
    if row is not None:
        return row
    latest = published(session)
    row = BundleDraft(name=WORKSPACE, source=latest.source if latest else SKELETON,
                      base_version=latest.id if latest else None, updated_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another request created it first
        row = session.scalar(select(BundleDraft).where(BundleDraft.name == WORKSPACE))
    return row


def save(row: BundleDraft, text: str, *, actor: str | None, now: datetime, base_version: int | None | bool = False):
    """Store `text` as the draft (valid or not); `base_version` when the draft now starts from a version."""
    row.source = text
    row.updated_at = now
    row.updated_by = actor
    if base_version is not False:
        row.base_version = base_version


def state(session: Session, row: BundleDraft) -> dict:
    """The draft as the designer reads it (the reply of every draft endpoint)."""
    analysis = analyse(row.source)
    latest = published(session)
    return {
        "source": row.source,
        "document": analysis.document,
        "problems": [problem_json(p) for p in analysis.problems],
        "base_version": row.base_version,
        "published_version": latest.id if latest else None,
        "dirty": latest is None or latest.source != row.source,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        "updated_by": row.updated_by,
    }
