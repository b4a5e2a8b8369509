"""Loading and checking a bundle (SPEC §1, §2, §4–7).

`load_bundle` reads files, `load_bundle_text` reads text already in hand;
both return a checked, compiled `Bundle` or raise `BundleInvalid` with every
problem found — structural ones from the JSON Schema, then semantic ones
(names, parents, options, values, expression types, formula cycles) — each
located to file, line, column and document path.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import calendar as workcal
from . import schema, source
from .durations import parse_duration
from .errors import BundleInvalid, ExpressionError, Problem
from .expr.codegen import Module
from .expr.parser import parse
from .expr.scope import BOOL, DATETIME, DATE, LIST_TEXT, NUMBER, TEXT, Scope, Var
from .expr.typecheck import Checked, check, suggest
from .fields import TYPES, Context, FieldValueError, is_empty_input, option_index

SYSTEM_ATTRIBUTES = {"id": TEXT, "created_at": DATETIME, "updated_at": DATETIME}
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_AUTONUMBER = re.compile(r"\{(yyyy|yy|mm|dd|seq(?::(\d{1,2}))?)\}")


@dataclass
class FieldDef:
    key: str
    type: str
    label: str
    spec: dict
    #: path of the field in the document, e.g. ('objects', 'customer', 'fields', 3)
    path: tuple
    formula: Checked | None = None
    visible_if: Checked | None = None
    required_if: Checked | None = None
    default_expr: Checked | None = None

    @property
    def value_type(self) -> str:
        return TYPES[self.type].value_type

    @property
    def section(self) -> str | None:
        """The heading of the form section the field is shown under (extension; None: no section)."""
        return self.spec.get("section")


@dataclass
class ObjectDef:
    key: str
    label: str
    parent: str | None
    title: str | None
    fields: dict[str, FieldDef] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    #: formula keys in an order where each comes after what it reads
    formula_order: list[str] = field(default_factory=list)

    def sections(self, keys=None) -> list[tuple[str | None, list[FieldDef]]]:
        """The fields (those of `keys`, in field order, when given) grouped for forms and record pages.

        Consecutive fields with the same `section` form one group headed by it;
        fields without a section form groups with the heading None.
        """
        groups: list[tuple[str | None, list[FieldDef]]] = []
        for f in self.fields.values():
            if keys is not None and f.key not in keys:
                continue
            if groups and groups[-1][0] == f.section:
                groups[-1][1].append(f)
            else:
                groups.append((f.section, [f]))
        return groups


@dataclass
class Rule:
    index: int
    when: Checked
    value: object
    points: object
    label: str | None
    path: tuple


@dataclass
class ClassificationDef:
    key: str
    object: str
    label: str
    hit: str
    rules: list[Rule]
    default: object
    base: object
    values: list | None
    type: str
    path: tuple


@dataclass
class Bundle:
    """A checked bundle: its objects, classifications and policies, ready to classify."""

    id: str
    title: str
    locale: str
    timezone: str
    tz: ZoneInfo
    calendar: workcal.WorkCalendar
    objects: dict[str, ObjectDef]
    classifications: list[ClassificationDef]
    #: the merged document as written (policies and automations keep their checked expressions in `checked`)
    document: dict
    #: document path -> checked expression, for every expression outside objects and classifications
    checked: dict
    module: Module
    _classifiers: dict = field(default_factory=dict)

    def classifier(self, object_key: str):
        """The compiled classifier of one object (built once, then shared)."""
        from .classify import Classifier
        clf = self._classifiers.get(object_key)
        if clf is None:
            if object_key not in self.objects:
                raise KeyError(f"no object `{object_key}` in bundle {self.id}; objects: {', '.join(self.objects)}")
            clf = Classifier(self, self.objects[object_key])
            self._classifiers[object_key] = clf
        return clf

    def classifications_of(self, object_key: str) -> list[ClassificationDef]:
        return [c for c in self.classifications if c.object == object_key]

    def scope(self, object_key: str, *, classifications: bool | int = True, old: bool = False) -> Scope:
        """Names visible to an expression of `object_key`.

        `classifications` is True for all of the object's classifications,
        False for none (formulas), or an index: those defined before it.
        """
        return _scope(self.objects, self.classifications, object_key, classifications, old)


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle from a YAML/JSON file or a directory of ``*.yaml`` files."""
    p = Path(path)
    name = str(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
        if not files:
            raise BundleInvalid([Problem(name, 0, 0, "", "the directory holds no *.yaml files")])
        parts, problems = [], []
        for f in files:
            doc, probs = _read(f, str(f))
            problems += probs
            if doc is not None:
                parts.append(doc)
        if problems:
            raise BundleInvalid(problems)
        doc, problems = source.merge(parts)
        if problems:
            raise BundleInvalid(problems)
        return build(doc)
    doc, problems = _read(p, name)
    if problems:
        raise BundleInvalid(problems)
    return build(doc)


def _read(p: Path, name: str):
    try:
        size = p.stat().st_size
        if size > source.MAX_BYTES:
            return None, [Problem(name, 1, 1, "", f"file is {size:,} bytes; a bundle may be at most {source.MAX_BYTES:,}")]
        if not p.is_file():
            return None, [Problem(name, 0, 0, "", "not a regular file")]
        raw = p.read_bytes()
    except OSError as exc:
        return None, [Problem(name, 0, 0, "", f"cannot read: {exc.strerror or exc}")]
    return source.load_bytes(raw, name)


def load_bundle_text(text: str, filename: str = "bundle.yaml") -> Bundle:
    """Load a bundle from text (YAML, or JSON when `filename` ends in .json)."""
    doc, problems = source.load_text(text, filename, json_text=filename.lower().endswith(".json"))
    if problems:
        raise BundleInvalid(problems)
    return build(doc)


def build(doc: source.Located) -> Bundle:
    if not isinstance(doc.data, dict):
        raise BundleInvalid([doc.problem((), "a bundle is a mapping with at least `bundle` and `objects`")])
    problems = schema.problems(doc)
    checker = _Checker(doc, problems)
    bundle = checker.run()
    if checker.problems:
        raise BundleInvalid(checker.problems)
    return bundle


# ---------------------------------------------------------------------------

def _scope(objects, classifications, object_key, upto, old) -> Scope:
    obj = objects[object_key]
    names = _names_of(objects, classifications, object_key, upto)
    scope = Scope(object_key, names)
    for child_key in obj.children:
        child_names = _names_of(objects, classifications, child_key, True)
        scope.children[child_key] = Scope(child_key, child_names, parent=names)
    if obj.parent:
        scope.parent = _names_of(objects, classifications, obj.parent, False)
    if old:
        scope.old = dict(names)
    if upto is not True and upto is not False:
        later = [c for c in classifications if c.object == object_key][upto:]
        scope.later = {c.key: f"classifications[{c.path[1]}]" for c in later}
    return scope


def _names_of(objects, classifications, object_key, upto) -> dict:
    obj = objects[object_key]
    names = {k: Var(t, "field", k) for k, t in SYSTEM_ATTRIBUTES.items()}
    if obj.parent is None:
        names["owner"] = Var(TEXT, "field", "owner")
    for f in obj.fields.values():
        kind = "formula" if "formula" in f.spec else "field"
        names[f.key] = Var(f.value_type, kind, f.key, f.label)
    if upto is not False:
        mine = [c for c in classifications if c.object == object_key]
        if upto is not True:
            mine = mine[:upto]
        for c in mine:
            names[c.key] = Var(c.type, "classification", c.key, c.label)
    return names


class _Checker:
    """Semantic checks on top of the schema; collects every problem."""

    def __init__(self, doc: source.Located, problems: list[Problem]):
        self.doc = doc
        self.data = doc.data
        self.problems = problems
        self.schema_paths = {p.path for p in problems}

    def report(self, path, message, kind=None, expr_col=None):
        self.problems.append(self.doc.problem(path, message, kind, expr_col))

    def get(self, mapping, key, kind, default=None):
        value = mapping.get(key, default) if isinstance(mapping, dict) else default
        return value if isinstance(value, kind) else default

    # -- entry ---------------------------------------------------------------
    def run(self) -> Bundle | None:
        d = self.data
        tz_name = self.get(d, "timezone", str, "Asia/Shanghai")
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            self.report(("timezone",), f"unknown time zone `{tz_name}`; use an IANA name such as Asia/Shanghai")
            tz = ZoneInfo("Asia/Shanghai")
        cal_name = self.get(d, "calendar", str, "none")
        calendar = workcal.get(cal_name if cal_name in workcal.WorkCalendar.kinds else "none")
        self.module = Module(tz, calendar)
        self.objects = self.check_objects()
        self.classifications: list[ClassificationDef] = []
        self.check_fields()
        self.check_classifications()
        self.checked: dict = {}
        self.check_followups()
        self.check_pools()
        self.check_automations()
        return Bundle(
            id=self.get(d, "bundle", str, ""), title=self.get(d, "title", str, "") or self.get(d, "bundle", str, ""),
            locale=self.get(d, "locale", str, "zh-CN"), timezone=tz_name, tz=tz, calendar=calendar,
            objects=self.objects, classifications=self.classifications, document=d, checked=self.checked,
            module=self.module)

    def expression(self, path, text, scope: Scope, want: str | tuple | None, what: str) -> Checked | None:
        """Parse and check one expression; report a located problem and return None if it fails."""
        if not isinstance(text, str):
            return None
        try:
            checked = check(text, parse(text), scope)
        except ExpressionError as exc:
            self.report(path, exc.message, exc.kind, exc.column)
            return None
        wanted = (want,) if isinstance(want, str) else want
        if wanted and checked.type not in wanted and not (checked.type == "null"):
            if BOOL in wanted:
                msg = f"{what} must be a condition (true or false); this expression gives {checked.type}"
            else:
                msg = f"{what} gives {checked.type}, but the field holds {' or '.join(wanted)}"
            self.report(path, msg, "type", 1)
            return None
        return checked

    # -- objects and fields ----------------------------------------------------
    def check_objects(self) -> dict[str, ObjectDef]:
        raw = self.get(self.data, "objects", dict, {})
        objects: dict[str, ObjectDef] = {}
        for key, spec in raw.items():
            if not isinstance(spec, dict) or not _KEY.match(key):
                continue
            parent = self.get(spec, "parent", str)
            objects[key] = ObjectDef(key, self.get(spec, "label", str, key), parent, self.get(spec, "title", str))
        for key, obj in list(objects.items()):
            if obj.parent is None:
                continue
            path = ("objects", key, "parent")
            if obj.parent == key:
                self.report(path, "an object cannot be its own parent")
                obj.parent = None
            elif obj.parent not in objects:
                self.report(path, f"unknown object `{obj.parent}`{suggest(obj.parent, objects)}")
                obj.parent = None
            elif objects[obj.parent].parent is not None:
                self.report(path, f"`{obj.parent}` is itself a child object; nesting is at most two levels")
                obj.parent = None
        for key, obj in objects.items():
            if obj.parent:
                objects[obj.parent].children.append(key)
        for key, obj in objects.items():
            spec = raw[key]
            seen: dict[str, int] = {}
            for i, fspec in enumerate(self.get(spec, "fields", list, [])):
                if not isinstance(fspec, dict):
                    continue
                fkey, ftype = fspec.get("key"), fspec.get("type")
                if not isinstance(fkey, str) or not _KEY.match(fkey) or ftype not in TYPES:
                    continue
                path = ("objects", key, "fields", i)
                if fkey in seen:
                    self.report(path + ("key",), f"field key `{fkey}` is already used by fields[{seen[fkey]}]")
                    continue
                clash = self._clash(obj, fkey, objects)
                if clash:
                    self.report(path + ("key",), clash)
                    continue
                seen[fkey] = i
                obj.fields[fkey] = FieldDef(fkey, ftype, self.get(fspec, "label", str, fkey), fspec, path)
            if obj.title and obj.title not in obj.fields:
                self.report(("objects", key, "title"), f"`title` names no field of `{key}`{suggest(obj.title, obj.fields)}")
        return objects

    def _clash(self, obj: ObjectDef, key: str, objects) -> str | None:
        if key in SYSTEM_ATTRIBUTES or (key == "owner" and obj.parent is None):
            return f"`{key}` is a system attribute every record has; choose another key"
        if key in obj.children or (key in objects and objects[key].parent == obj.key):
            return f"`{key}` is the key of a child object of `{obj.key}`; choose another key"
        if key in ("parent", "old"):
            return f"`{key}` is reserved in expressions; choose another key"
        return None

    def check_fields(self):
        ctx = Context(self.module.globals["TZ"])
        # Classification heads (key, type) first: aggregates in formulas may read a child's classifications.
        self.classifications = self._classification_heads()
        for obj in self.objects.values():
            for f in obj.fields.values():
                s, path = f.spec, f.path
                self._field_options(f, ctx)
                if "formula" in s:
                    f.formula = self.expression(path + ("formula",), s["formula"],
                                                self._formula_scope(obj), _accepts(f.value_type), "the formula")
            self._formula_order(obj)
        # Conditions and computed defaults may read formulas and every classification of the object:
        # they are evaluated after classification.
        for obj in self.objects.values():
            scope = _scope(self.objects, self.classifications, obj.key, True, False)
            for f in obj.fields.values():
                s, path = f.spec, f.path
                if "visible_if" in s:
                    f.visible_if = self.expression(path + ("visible_if",), s["visible_if"], scope, BOOL, "`visible_if`")
                if "required_if" in s:
                    f.required_if = self.expression(path + ("required_if",), s["required_if"], scope, BOOL, "`required_if`")
                default = s.get("default")
                if isinstance(default, dict) and "expr" in default:
                    f.default_expr = self.expression(path + ("default", "expr"), default["expr"],
                                                     _scope(self.objects, [], obj.key, False, False),
                                                     _accepts(f.value_type), "the default")

    def _formula_scope(self, obj: ObjectDef) -> Scope:
        return _scope(self.objects, self.classifications, obj.key, False, False)

    def _field_options(self, f: FieldDef, ctx):
        s, path = f.spec, f.path
        ftype = TYPES[f.type]
        if f.type in ("select", "multiselect") and isinstance(s.get("options"), list):
            values, _ = option_index(s)
            seen = set()
            for i, v in enumerate(values):
                if v in seen:
                    self.report(path + ("options", i), f"option `{v}` is listed twice")
                seen.add(v)
        low, high = s.get("min"), s.get("max")
        if _is_num(low) and _is_num(high) and low > high:
            self.report(path + ("max",), f"`max` ({high}) is below `min` ({low})")
        if isinstance(s.get("pattern"), str):
            try:
                re.compile(s["pattern"])
            except re.error as exc:
                self.report(path + ("pattern",), f"not a valid regular expression: {exc}")
        if f.type == "autonumber" and isinstance(s.get("format"), str):
            fmt = s["format"]
            if not any(m.group(1).startswith("seq") for m in _AUTONUMBER.finditer(fmt)):
                self.report(path + ("format",), "an autonumber format needs a sequence, e.g. \"KH-{yyyy}-{seq:5}\"")
            for m in _TEMPLATE.finditer(fmt):
                if not _AUTONUMBER.fullmatch(m.group(0)):
                    self.report(path + ("format",), f"unknown placeholder `{m.group(0)}`; use {{yyyy}} {{yy}} {{mm}} {{dd}} {{seq:N}}")
        default = s.get("default")
        if default is not None and not isinstance(default, dict) and ("default",) not in self.schema_paths:
            if f.type == "autonumber":
                return
            try:
                if not is_empty_input(default):
                    ftype.coerce(default, s, ctx)
            except FieldValueError as exc:
                from .messages import message
                self.report(path + ("default",), f"the default does not fit the field: {message('en', exc.code, **exc.params)}")

    def _formula_order(self, obj: ObjectDef):
        """Order formulas so each follows the formulas it reads; report cycles (`a -> b -> a`)."""
        deps = {k: [n for n in f.formula.reads if n in obj.fields and "formula" in obj.fields[n].spec]
                for k, f in obj.fields.items() if f.formula is not None}
        order, state, reported = [], {}, set()

        def visit(k, trail):
            if state.get(k) == 2:
                return
            if state.get(k) == 1:
                cycle = trail[trail.index(k):] + [k]
                if not set(cycle) & reported:
                    reported.update(cycle)
                    f = obj.fields[cycle[0]]
                    self.report(f.path + ("formula",), "formulas read each other in a cycle: " + " -> ".join(cycle))
                return
            state[k] = 1
            for d in deps.get(k, ()):
                visit(d, trail + [k])
            state[k] = 2
            order.append(k)

        for k in deps:
            visit(k, [])
        obj.formula_order = [k for k in order if k not in reported]
        for k in reported:
            obj.fields[k].formula = None
        if obj.parent:  # a child's formulas are computed before its parent's: they may read inputs only
            for k in obj.formula_order:
                f = obj.fields[k]
                f.formula = self._parent_inputs_only(f.path + ("formula",), f.formula, obj.key, "a child's formula")

    def _parent_inputs_only(self, path, checked: Checked, object_key: str, what: str) -> Checked | None:
        """A child's formulas and classifications run before the parent's formulas: `parent.` reads inputs only."""
        parent = self.objects[self.objects[object_key].parent]
        for name in checked.parent_reads:
            pf = parent.fields.get(name)
            if pf is not None and "formula" in pf.spec:
                self.report(path, f"{what} can read the parent's input fields, not its formula `{name}`")
                return None
        return checked

    # -- classifications --------------------------------------------------------
    def _classification_heads(self) -> list[ClassificationDef]:
        out = []
        keys: dict[tuple, int] = {}
        for i, spec in enumerate(self.get(self.data, "classifications", list, [])):
            if not isinstance(spec, dict):
                continue
            key, obj = spec.get("key"), spec.get("object")
            path = ("classifications", i)
            if not isinstance(key, str) or not _KEY.match(key) or not isinstance(obj, str):
                continue
            if obj not in self.objects:
                self.report(path + ("object",), f"unknown object `{obj}`{suggest(obj, self.objects)}")
                continue
            o = self.objects[obj]
            if (obj, key) in keys:
                self.report(path + ("key",), f"classification `{key}` is already defined at classifications[{keys[(obj, key)]}]")
                continue
            if key in o.fields:
                self.report(path + ("key",), f"`{key}` is already a field of `{obj}`; classification keys share the field namespace")
                continue
            clash = self._clash(o, key, self.objects)
            if clash:
                self.report(path + ("key",), clash)
                continue
            keys[(obj, key)] = i
            hit = spec.get("hit", "first") if spec.get("hit") in ("first", "collect", "sum") else "first"
            rules_raw = self.get(spec, "rules", list, [])
            if hit == "sum":
                ctype = NUMBER
            elif hit == "collect":
                ctype = LIST_TEXT
            else:
                found = {type(r.get("value")) for r in rules_raw if isinstance(r, dict) and r.get("value") is not None}
                if spec.get("default") is not None:
                    found.add(type(spec.get("default")))
                numeric = {int, Decimal}
                ctype = NUMBER if found and found <= numeric else TEXT
                if found and not found <= numeric and found & numeric:
                    self.report(path + ("rules",), "values must be all texts or all numbers; quote numbers meant as text ('1')")
            out.append(ClassificationDef(key, obj, self.get(spec, "label", str, key), hit, [], spec.get("default"),
                                         spec.get("base", 0), self.get(spec, "values", list), ctype, path))
        return out

    def check_classifications(self):
        per_object: dict[str, int] = {}
        for c in self.classifications:
            spec = self.doc.data["classifications"][c.path[1]]
            upto = per_object.get(c.object, 0)
            per_object[c.object] = upto + 1
            scope = _scope(self.objects, self.classifications, c.object, upto, False)
            allowed = [str(v) if c.type == TEXT else v for v in c.values] if c.values is not None else None
            for i, r in enumerate(self.get(spec, "rules", list, [])):
                if not isinstance(r, dict):
                    continue
                rpath = c.path + ("rules", i)
                when = self.expression(rpath + ("when",), r.get("when"), scope, BOOL, "a rule's `when`")
                value = r.get("value")
                if c.type == TEXT and value is not None and not isinstance(value, bool):
                    value = str(value)
                if allowed is not None and value is not None and value not in allowed and c.hit != "sum":
                    self.report(rpath + ("value",), f"`{value}` is not among the declared values: {', '.join(map(str, allowed))}")
                if when is not None and self.objects[c.object].parent:
                    when = self._parent_inputs_only(rpath + ("when",), when, c.object, "a child's classification")
                if when is not None:
                    c.rules.append(Rule(i, when, value, r.get("points", 0), self.get(r, "label", str), rpath))
            if c.hit == "first" and c.default is not None:
                if c.type == TEXT:
                    c.default = str(c.default)
                if allowed is not None and c.default not in allowed:
                    self.report(c.path + ("default",), f"default `{c.default}` is not among the declared values")
            if c.hit == "collect":
                c.default = [str(v) for v in c.default] if isinstance(c.default, list) and c.default else None
                if allowed is not None:
                    for v in c.default or ():
                        if v not in allowed:
                            self.report(c.path + ("default",), f"default `{v}` is not among the declared values")

    # -- follow-up, pools, automations ---------------------------------------------
    def _policy_object(self, path, spec) -> ObjectDef | None:
        key = spec.get("object")
        if not isinstance(key, str):
            return None
        if key not in self.objects:
            self.report(path + ("object",), f"unknown object `{key}`{suggest(key, self.objects)}")
            return None
        return self.objects[key]

    def _policy_expr(self, path, text, obj, want=BOOL, what="the condition", old=False):
        scope = _scope(self.objects, self.classifications, obj.key, True, old)
        checked = self.expression(path, text, scope, want, what)
        if checked is not None:
            self.checked[path] = checked
        return checked

    def check_followups(self):
        for i, spec in enumerate(self.get(self.data, "followup", list, [])):
            path = ("followup", i)
            if not isinstance(spec, dict) or (obj := self._policy_object(path, spec)) is None:
                continue
            activity = spec.get("activity")
            if isinstance(activity, str):
                if activity not in obj.children:
                    self.report(path + ("activity",), f"`{activity}` is not a child object of `{obj.key}`"
                                f"{suggest(activity, obj.children)}")
                else:
                    at = spec.get("activity_time", "created_at")
                    child = self.objects[activity]
                    ok = at == "created_at" or (at in child.fields and child.fields[at].value_type in (DATE, DATETIME))
                    if isinstance(at, str) and not ok:
                        self.report(path + ("activity_time",), f"`{at}` is not a date or datetime field of `{activity}`"
                                    f"{suggest(at, child.fields)}")
            for j, entry in enumerate(self.get(spec, "cadence", list, [])):
                if isinstance(entry, dict):
                    self._policy_expr(path + ("cadence", j, "when"), entry.get("when"), obj)
            for j, rem in enumerate(self.get(spec, "reminders", list, [])):
                if isinstance(rem, dict):
                    self._principal(path + ("reminders", j, "notify"), rem.get("notify"))

    def _principal(self, path, who):
        if isinstance(who, list):
            for k, w in enumerate(who):
                self._principal(path + (k,), w)
            return
        if isinstance(who, str) and not re.fullmatch(r"[\w.@+-]{1,150}", who):
            self.report(path, f"`{who}` is not owner, manager, admins or a username")

    def check_pools(self):
        keys: dict[str, int] = {}
        for i, spec in enumerate(self.get(self.data, "pool", list, [])):
            path = ("pool", i)
            if not isinstance(spec, dict):
                continue
            key = spec.get("key")
            if isinstance(key, str):
                if key in keys:
                    self.report(path + ("key",), f"pool `{key}` is already defined at pool[{keys[key]}]")
                keys.setdefault(key, i)
            for name in ("warn_before", "protect", "reclaim_cooldown"):
                self._duration(path + (name,), spec.get(name))
            if "reclaim_when" not in spec:
                for name in ("warn_before", "protect"):
                    if name in spec:
                        self.report(path + (name,), f"`{name}` needs `reclaim_when`: without it nothing is reclaimed")
            if (obj := self._policy_object(path, spec)) is None:
                continue
            if obj.parent is not None:
                self.report(path + ("object",), f"`{obj.key}` is a child object; only top-level records have owners and pools")
            if "reclaim_when" in spec:
                self._policy_expr(path + ("reclaim_when",), spec["reclaim_when"], obj)

    def _duration(self, path, value):
        """A duration the schema's pattern let through must also be one the engine can use."""
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+[mhdw]", value) and parse_duration(value) is None:
            self.report(path, f"`{value}` is too long a duration; write it in a larger unit (e.g. 2w, not 20160m)")

    def check_automations(self):
        pools = {p.get("key"): p.get("object") for p in self.get(self.data, "pool", list, []) if isinstance(p, dict)}
        keys: dict[str, int] = {}
        for i, spec in enumerate(self.get(self.data, "automations", list, [])):
            path = ("automations", i)
            if not isinstance(spec, dict):
                continue
            key = spec.get("key")
            if isinstance(key, str):
                if key in keys:
                    self.report(path + ("key",), f"automation `{key}` is already defined at automations[{keys[key]}]")
                keys[key] = i
            if (obj := self._policy_object(path, spec)) is None:
                continue
            on = spec.get("on")
            names = _names_of(self.objects, self.classifications, obj.key, True)
            if on == "changed":
                for j, fk in enumerate(self.get(spec, "fields", list, [])):
                    if isinstance(fk, str) and fk not in names:
                        self.report(path + ("fields", j), f"`{fk}` is not a field or classification of `{obj.key}`"
                                    f"{suggest(fk, names)}")
            if on == "date":
                fk = spec.get("field")
                if isinstance(fk, str) and (fk not in names or names[fk].type not in (DATE, DATETIME)):
                    self.report(path + ("field",), f"`{fk}` is not a date or datetime field of `{obj.key}`"
                                f"{suggest(fk, [n for n, v in names.items() if v.type in (DATE, DATETIME)])}")
            if on == "schedule" and isinstance(spec.get("cron"), str):
                from croniter import croniter
                if not croniter.is_valid(spec["cron"]):
                    self.report(path + ("cron",), f"`{spec['cron']}` is not a cron expression (minute hour day month weekday)")
            if on == "date":
                self._duration(path + ("offset",), spec.get("offset"))
            if "when" in spec:
                self._policy_expr(path + ("when",), spec["when"], obj, old=(on == "changed"))
            for j, action in enumerate(self.get(spec, "do", list, [])):
                if isinstance(action, dict):
                    self._action(path + ("do", j), action, obj, names, pools, old=(on == "changed"))

    def _action(self, path, action, obj, names, pools, old):
        for kind, body in action.items():
            apath = path + (kind,)
            if kind in ("task", "notify") and isinstance(body, dict):
                for text_key in ("title", "text"):
                    if isinstance(body.get(text_key), str):
                        self._template(apath + (text_key,), body[text_key], names, old)
                for who_key in ("assignee", "to"):
                    if who_key in body:
                        self._principal(apath + (who_key,), body[who_key])
            elif kind == "set" and isinstance(body, dict):
                for fk, expr in body.items():
                    f = obj.fields.get(fk)
                    if f is None:
                        self.report(apath + (fk,), f"`{fk}` is not a field of `{obj.key}`{suggest(fk, obj.fields)}")
                    elif "formula" in f.spec:
                        self.report(apath + (fk,), f"`{fk}` is a formula; it cannot be set")
                    else:
                        self._policy_expr(apath + (fk,), expr if isinstance(expr, str) else str(expr), obj,
                                          _accepts(f.value_type), "the value", old)
            elif kind == "assign" and isinstance(body, dict):
                if obj.parent is not None:
                    self.report(apath, f"`{obj.key}` is a child object; only top-level records have owners")
                if "expr" in body:
                    self._policy_expr(apath + ("expr",), body["expr"], obj, None, "the rule", old)
                    self._map_keys(apath, body, obj)
            elif kind == "to_pool":
                pool = body.get("pool") if isinstance(body, dict) else body
                mine = [k for k, o in pools.items() if o == obj.key and k]
                if isinstance(pool, str) and pool not in pools:
                    self.report(apath, f"no pool `{pool}` in this bundle{suggest(pool, [p for p in pools if p])}")
                elif isinstance(pool, str) and pools[pool] != obj.key:
                    self.report(apath, f"pool `{pool}` holds `{pools[pool]}` records, not `{obj.key}`"
                                f"{suggest(pool, mine)}")
                elif pool is None and not mine:
                    self.report(apath, f"`{obj.key}` has no pool to return records to; add one under `pool:`")
            if kind == "task" and isinstance(body, dict):
                self._duration(apath + ("due",), body.get("due"))

    def _map_keys(self, apath, body, obj):
        """`map` of a rule on a select field: every key must be one of its options (a typo never matches)."""
        expr, mapping = body.get("expr"), body.get("map")
        f = obj.fields.get(expr.strip()) if isinstance(expr, str) else None
        if f is None or f.type not in ("select", "multiselect") or not isinstance(mapping, dict):
            return
        options = [str(o) for o in f.spec.get("options") or []]
        for k in mapping:
            if str(k) not in options:
                self.report(apath + ("map", k), f"`{k}` is not an option of `{f.key}`{suggest(str(k), options)}")

    def _template(self, path, text, names, old):
        for m in _TEMPLATE.finditer(text):
            name = m.group(1).strip()
            base = name[4:] if old and name.startswith("old.") else name
            if base not in names:
                self.report(path, f"`{{{name}}}` names no field{suggest(base, names)}")


def _accepts(value_type: str):
    return (value_type,)


def _is_num(v) -> bool:
    return isinstance(v, (int, Decimal)) and not isinstance(v, bool)

