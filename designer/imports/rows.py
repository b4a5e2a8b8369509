"""One table's rows becoming records: cells to values, the store's save in a SAVEPOINT, duplicates, parents.

Every row goes through `records.store.save`, the pipeline forms and the API
use, so an import is checked exactly like a form (SPEC §2). The duplicate
check decides what a duplicate row does, as the importer chose: `skip` it,
`update` the existing record the check names, or import it as `new` with a
warning (a `block` duplicate is never imported twice: it fails the row).
`check` runs the same validation and duplicate check without writing, for
the preview.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import RecordInvalid, codecs
from engine.dedupe import duplicate_key
from engine.errors import FieldProblem
from engine.fields import TYPES, Context, FieldValueError

from ..auth.scope import can_see, visible
from ..bundles.indexes import value_expr
from ..bundles.workspace import Current
from ..models import DuplicateKey, Record, User
from ..records import duplicates
from ..records.store import StaleRecord, raw_of, save
from . import choices as chosen_options
from .mapping import PARENT, match_fields
from .planned import Foresight
from .words import words


@dataclass
class Outcome:
    #: imported | updated | skipped | failed
    kind: str
    #: (column heading, message): why the row failed, or why it was skipped or warned about
    notes: list = field(default_factory=list)


def _cell(value):
    """A cell as a raw value: text trimmed ('' is empty), Excel's whole-number floats as integers."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _is_duplicate(problem: FieldProblem) -> bool:
    return bool(problem.detail) and "record_id" in problem.detail


class Parents:
    """Finds a child row's parent by the chosen match field, among the parents the importer may see.

    A `unique` match field is looked up in the duplicate index (so `智云科技（杭州）`
    finds `杭州智云科技有限公司` under `match: company`); any other field by its
    stored value. Answers are remembered (a bounded number) for the run.
    """

    def __init__(self, bundle, parent_obj, match: str, user: User | None):
        self.bundle = bundle
        self.obj = parent_obj
        self.field = parent_obj.fields[match]
        self.user = user
        self.words = words(bundle)
        self._ctx = Context(bundle.tz)
        self._known: OrderedDict = OrderedDict()

    def find(self, session: Session, raw) -> tuple[Record | None, str | None]:
        """(parent, None) or (None, why not)."""
        w = self.words
        if raw is None:
            return None, w["no_parent_key"].format(parent=self.obj.label)
        f = self.field
        try:
            value = TYPES[f.type].coerce(raw, f.spec, self._ctx)
        except FieldValueError as exc:
            return None, self.bundle.classifier(self.obj.key).message(exc.code, **exc.params)
        if value in self._known:
            self._known.move_to_end(value)
            found = self._known[value]
        else:
            found = self._lookup(session, value)
            self._known[value] = found
            if len(self._known) > 10000:
                self._known.popitem(last=False)
        parent = session.get(Record, found) if isinstance(found, int) else None
        if parent is not None:
            return parent, None
        return None, w["no_parent" if isinstance(found, int) else found].format(
            parent=self.obj.label, field=f.label, value=raw)

    def _lookup(self, session: Session, value) -> int | str:
        f = self.field
        unique = f.spec.get("unique")
        stmt = select(Record.id).where(Record.object == self.obj.key)
        if unique:
            key = duplicate_key(f.type, unique, value)
            stmt = stmt.join(DuplicateKey, DuplicateKey.record_id == Record.id).where(
                DuplicateKey.object == self.obj.key, DuplicateKey.field == f.key, DuplicateKey.value == (key or "")[:255])
        else:
            dialect = session.get_bind().dialect.name
            stmt = stmt.where(value_expr(dialect, f.key, column="data") == codecs.to_json(value))
        if self.user is not None:
            stmt = visible(stmt, session, self.user)
        ids = session.scalars(stmt.limit(2)).all()
        if not ids:
            return "no_parent"
        return ids[0] if len(ids) == 1 else "many_parents"


class Rows:
    """How the rows of one table (columns mapped to `object_key`'s fields) are saved or checked."""

    def __init__(self, cur: Current, object_key: str, headers: list[str], columns: list[str], *, user: User | None,
                 owner: str | None, actor: str | None, duplicates: str, match: str | None = None,
                 choices: dict[int, dict] | None = None):
        self.cur = cur
        #: what makes these rows again from the same bundle, but the user (a helper process: `imports.ahead`)
        self.arguments = {"object_key": object_key, "headers": headers, "columns": columns, "owner": owner,
                          "actor": actor, "duplicates": duplicates, "match": match, "choices": choices}
        self.bundle = cur.bundle
        self.obj = self.bundle.objects[object_key]
        self.clf = self.bundle.classifier(object_key)
        #: None: the command line, acting for the whole workspace
        self.user = user
        self.owner = None if self.obj.parent else owner
        self.actor = actor
        self.duplicates = duplicates
        self.words = words(self.bundle)
        self.columns = {i: t for i, t in enumerate(columns) if t and i < len(headers)}
        #: column -> its texts that are no option -> the option the importer chose (None: leave empty)
        self.choices = {i: c for i, c in (choices or {}).items() if self.columns.get(i) in self.obj.fields}
        #: target -> the heading of its column
        self.heading = {t: headers[i] for i, t in self.columns.items()}
        self.parents = None
        if self.obj.parent is not None:
            parent_obj = self.bundle.objects[self.obj.parent]
            match = match or parent_obj.title or next((f.key for f in match_fields(parent_obj)), None)
            self.parents = Parents(self.bundle, parent_obj, match, user)

    @cached_property
    def stored(self) -> list[str]:
        """The fields a record stores the values of (not formulas), in order."""
        return [k for k, f in self.obj.fields.items() if f.formula is None]

    @cached_property
    def classified(self) -> list[str]:
        """The classifications of the object, whose values a new record's history starts with."""
        return [c.key for c in self.bundle.classifications_of(self.obj.key)]

    @cached_property
    def numbered(self) -> list[str]:
        """The autonumber fields, numbered as the records are written."""
        return [k for k, f in self.obj.fields.items() if f.type == "autonumber"]

    @cached_property
    def foresight(self) -> Foresight:
        return Foresight(self.bundle, self.obj)

    # -- cells -----------------------------------------------------------------------------------
    def values(self, cells: list) -> tuple[dict, object]:
        """(field key -> raw value of the non-empty mapped cells, the parent's match key or None)."""
        values, parent_key = {}, None
        for i, target in self.columns.items():
            value = _cell(cells[i]) if i < len(cells) else None
            if value is not None and i in self.choices:
                value = chosen_options.apply(self.obj.fields[target], value, self.choices[i])
            if target == PARENT:
                parent_key = value
            elif value is not None:
                values[target] = value
        return values, parent_key

    def column_of(self, path: str) -> str:
        key = path.split("[")[0].split(".")[0]
        if key in self.heading:
            return self.heading[key]
        f = self.obj.fields.get(key)
        return f.label if f is not None else key

    def located(self, problems) -> list[tuple[str, str]]:
        return [(self.column_of(p.path), p.message) for p in problems]

    # -- writing ---------------------------------------------------------------------------------
    def save(self, session: Session, cells: list, now: datetime) -> Outcome:
        """Save one row (in a SAVEPOINT: a failed row leaves nothing behind); the caller commits."""
        values, parent_key = self.values(cells)
        parent = None
        if self.parents is not None:
            parent, why = self.parents.find(session, parent_key)
            if why:
                return Outcome("failed", [(self.heading.get(PARENT, ""), why)])
        try:
            with session.begin_nested():
                saved = save(session, self.cur, self.actor, self.obj.key, values, parent=parent, owner=self.owner,
                             allow_duplicates=self.duplicates == "new", now=now)
        except RecordInvalid as exc:
            if self.duplicates != "new" and exc.problems and all(map(_is_duplicate, exc.problems)):
                return self._duplicate(session, values, exc.problems, now)
            return Outcome("failed", self.located(exc.problems))
        except duplicates.DuplicateFound as exc:
            return self._duplicate(session, values, exc.problems, now)
        except StaleRecord:
            return Outcome("failed", [("", self.words["stale"])])
        return Outcome("imported", [(column, self.words["new_anyway"].format(message=message))
                                    for column, message in self.located(saved.warnings)])

    def _duplicate(self, session: Session, values: dict, problems: list, now: datetime) -> Outcome:
        notes = self.located(problems)
        if self.duplicates == "skip":
            return Outcome("skipped", [(c, self.words["skipped"].format(message=m)) for c, m in notes])
        existing, why = self._existing(session, problems)
        if why:
            return Outcome("failed", [(notes[0][0], why)])
        try:
            with session.begin_nested():
                save(session, self.cur, self.actor, self.obj.key, values, record=existing, now=now)
        except RecordInvalid as exc:
            return Outcome("failed", self.located(exc.problems))
        except duplicates.DuplicateFound as exc:
            return Outcome("failed", self.located(exc.problems))
        except StaleRecord:
            return Outcome("failed", [("", self.words["stale"])])
        return Outcome("updated")

    def _existing(self, session: Session, problems: list) -> tuple[Record | None, str | None]:
        """The one existing record the duplicate check named, if the importer may change it."""
        ids = {p.detail["record_id"] for p in problems}
        if len(ids) > 1:
            return None, self.words["many_duplicates"]
        record = session.get(Record, int(ids.pop()))
        if record is None or record.object != self.obj.key:
            return None, self.words["many_duplicates"]
        if self.user is not None and not can_see(session, self.user, record):
            return None, self.words["not_yours"].format(title=record.title or record.id)
        return record, None

    # -- checking (the preview) --------------------------------------------------------------------
    def check(self, session: Session, cells: list, now: datetime) -> Outcome:
        """What `save` would do with the row, from the engine's validation and the duplicate check; writes nothing.

        Rows are checked one by one against the stored records: two rows of
        the file that duplicate each other show only when the import runs.
        """
        values, parent_key = self.values(cells)
        parent_typed = None
        notes = []
        if self.parents is not None:
            parent, why = self.parents.find(session, parent_key)
            parent_clf = self.bundle.classifier(self.parents.obj.key)
            if parent is None and parent_key is None:
                return Outcome("failed", [(self.heading.get(PARENT, ""), why)])
            parent_typed = parent_clf.coerce(raw_of(parent) if parent else {}, problems=[])
        raw = {"id": None, "owner": self.owner, "created_at": now, "updated_at": now,
               **{k: [] for k in self.obj.children}}
        raw.update(self.clf.with_defaults(values, now, parent_typed))
        try:
            typed, _result = self.clf.validate(raw, now, parent_typed)
        except RecordInvalid as exc:
            return Outcome("failed", self.located(exc.problems))
        try:
            warnings = duplicates.check(session, self.bundle, self.obj, typed, None,
                                        allow_duplicates=self.duplicates == "new")
        except RecordInvalid as exc:
            if self.duplicates == "new" or not all(map(_is_duplicate, exc.problems)):
                return Outcome("failed", self.located(exc.problems))
            return self._checked_duplicate(session, exc.problems)
        except duplicates.DuplicateFound as exc:
            return self._checked_duplicate(session, exc.problems)
        notes += [(c, self.words["new_anyway"].format(message=m)) for c, m in self.located(warnings)]
        return Outcome("imported", notes)

    def _checked_duplicate(self, session: Session, problems: list) -> Outcome:
        notes = self.located(problems)
        if self.duplicates == "skip":
            return Outcome("skipped", [(c, self.words["skipped"].format(message=m)) for c, m in notes])
        _existing, why = self._existing(session, problems)
        if why:
            return Outcome("failed", [(notes[0][0], why)])
        return Outcome("updated", notes)
