"""Classification of records (SPEC §4): formulas in dependency order, then classifications in order.

A `Classifier` compiles one object's formulas and classifications into a
single generated Python function (see `expr.codegen`). `classify` returns a
`Result` holding the values and which rules held; `Result.explain()` turns
that into the explanation SPEC §4 asks for, on demand, from the same run.
"""
from __future__ import annotations

from datetime import datetime
from functools import cached_property

from . import codecs
from .bundle import Bundle, ClassificationDef, ObjectDef
from .errors import FieldProblem, RecordInvalid
from .expr import ast
from .expr.codegen import Body, ExprGen, compile_expression, emit_aggregates, record_env
from .fields import TYPES, Context, FieldValueError, is_empty_input
from .messages import message

#: texts remembered per field by `coerce`: a field's type turns a text into the same value every time (for
#: a classifier, whose timezone is fixed), and the texts of an import repeat — options, regions, dates,
#: flags, the blank cell — so each distinct text is parsed once; a field of all-different texts (names,
#: phones) stops being remembered here, so the memory stays bounded whatever the number of records
MEMO_LIMIT = 4096
_MISS = object()

_NORMALIZE = {"money": "to_money({})", "integer": "to_integer({})", "text": "to_text({})", "textarea": "to_text({})"}


class Classifier:
    """Everything the engine does to records of one object, compiled once."""

    def __init__(self, bundle: Bundle, obj: ObjectDef):
        self.bundle = bundle
        self.object = obj
        self.classifications: list[ClassificationDef] = bundle.classifications_of(obj.key)
        self.formulas = [obj.fields[k] for k in obj.formula_order]
        #: keys of Result.values, in the order the generated function returns them
        self.value_keys = [f.key for f in self.formulas] + [c.key for c in self.classifications]
        self.children = {k: bundle.classifier(k) for k in obj.children}
        self._ctx = Context(bundle.tz)
        #: (key, field, text -> typed value) of each field, for `coerce`
        self._inputs = [(key, f, {}) for key, f in obj.fields.items()]
        #: (key, value) of the literal defaults and the keys of the `{expr: ...}` ones, for `with_defaults`
        self._literal_defaults = [(key, f.spec["default"]) for key, f in obj.fields.items() if f.formula is None
                                  and f.spec.get("default") is not None and not isinstance(f.spec["default"], dict)]
        self._expr_defaults = [key for key, f in obj.fields.items() if f.default_expr is not None]
        self._run, self.agg_texts = self._compile()
        self._conditions = self._compile_conditions()
        #: (classification key, rule index) -> (names read, aggregate texts read): what explanations look up
        self.rule_reads = {(c.key, r.index): (tuple(r.when.reads), tuple(ast.unparse(n) for n in r.when.aggregates))
                           for c in self.classifications for r in c.rules}
        self._clock_cache: tuple = (None, None)

    # -- compilation --------------------------------------------------------------
    def _compile(self):
        module = self.bundle.module
        body = Body(module)
        env = record_env("r")
        for f in self.formulas:
            env[f.key] = f"v_{f.key}"
        for c in self.classifications:
            env[c.key] = f"v_{c.key}"
        parent_env = record_env("p") if self.object.parent else None
        for key, child in self.children.items():
            if child.value_keys:
                fn = module.const(child._run)
                keys = module.const(tuple(child.value_keys))
                body.emit(f"for c in r[{key!r}] or ():")
                body.emit(f"c.update(zip({keys}, {fn}(c, today, now, r)[0]))", 2)
        statements = [(f.formula, f) for f in self.formulas]
        statements += [(r.when, c) for c in self.classifications for r in c.rules]
        pending = [(chk, node) for chk, _ in statements for node in chk.aggregates]
        for chk, _ in statements:
            chk.agg_names = {}
        done_texts = set()

        def ensure(checked):
            need = [(chk, n) for chk, n in pending if chk is checked]
            if not need:
                return
            todo = [(chk, n) for chk, n in pending if ast.unparse(n) not in done_texts or chk is checked]
            # Fuse every aggregate that reads only inputs into the first loop over its children.
            ready = [(chk, n) for chk, n in todo if chk is checked or not _reads_locals(n, env)]
            emit_aggregates(body, ready, env, "r")
            for chk, n in ready:
                done_texts.add(ast.unparse(n))
                pending.remove((chk, n))

        for f in self.formulas:
            ensure(f.formula)
            code = ExprGen(body, f.formula, env, parent_env).value(f.formula.tree)
            norm = _NORMALIZE.get(f.type)
            if f.type in ("number", "percent") and f.spec.get("decimals") is not None:
                norm = "to_decimals({}, " + str(int(f.spec["decimals"])) + ")"
            body.emit(f"v_{f.key} = {norm.format(code) if norm else code}")
        hits = []
        for c in self.classifications:
            for r in c.rules:
                ensure(r.when)
            hits.append(self._emit_classification(body, c, env, parent_env))
        values = ", ".join(f"v_{k}" for k in self.value_keys)
        aggs = list(body.aggregates.items())
        body.emit(f"return ({values}{',' if len(self.value_keys) == 1 else ''}), "
                  f"({', '.join(hits)}{',' if len(hits) == 1 else ''}), "
                  f"({', '.join(name for _, name in aggs)}{',' if len(aggs) == 1 else ''})")
        name = f"classify_{self.object.key}"
        source = f"def {name}(r, today, now, p=None):\n" + "\n".join(body.lines) + "\n"
        return module.compile(source, name), [text for text, _ in aggs]

    def _emit_classification(self, body: Body, c: ClassificationDef, env, parent_env) -> str:
        module = self.bundle.module
        v, h = f"v_{c.key}", f"h_{c.key}"
        lit = lambda value: repr(value) if value is None or isinstance(value, (str, int)) else module.const(value)
        if not c.rules:
            body.emit(f"{v} = {lit(c.default if c.hit != 'sum' else c.base)}; {h} = ()")
            return h
        if c.hit == "first":
            for i, r in enumerate(c.rules):
                cond = ExprGen(body, r.when, env, parent_env).truth(r.when.tree)
                body.emit(f"{'if' if i == 0 else 'elif'} {cond}:")
                body.emit(f"{v} = {lit(r.value)}; {h} = {i}", 2)
            body.emit("else:")
            body.emit(f"{v} = {lit(c.default)}; {h} = -1", 2)
            return h
        body.emit(f"{h} = []")
        if c.hit == "sum":
            body.emit(f"{v} = {lit(c.base)}")
        for i, r in enumerate(c.rules):
            cond = ExprGen(body, r.when, env, parent_env).truth(r.when.tree)
            body.emit(f"if {cond}:")
            if c.hit == "sum":
                body.emit(f"{v} += {lit(r.points)}", 2)
            body.emit(f"{h}.append({i})", 2)
        if c.hit == "collect":
            values = module.const(tuple(r.value for r in c.rules))
            body.emit(f"{v} = collect({h}, {values}, {lit(c.default)})")
        return h

    def _compile_conditions(self):
        out = {}
        for f in self.object.fields.values():
            for attr, mode in (("visible_if", "truth"), ("required_if", "truth"), ("default_expr", "value")):
                checked = getattr(f, attr)
                if checked is not None:
                    out[(f.key, attr)] = compile_expression(self.bundle.module, checked, f"{attr}_{f.key}", mode=mode,
                                                            parent=self.object.parent is not None)
        return out

    # -- running ------------------------------------------------------------------
    def clock(self, as_of: datetime):
        """(today, now) for an instant: the date in the bundle's timezone, and the instant itself."""
        cached_for, cached = self._clock_cache
        if cached_for is as_of:
            return cached
        when = as_of.replace(tzinfo=self.bundle.tz) if as_of.tzinfo is None else as_of
        local = when.astimezone(self.bundle.tz)
        self._clock_cache = (as_of, (local.date(), local))
        return local.date(), local

    def classify(self, record: dict, as_of: datetime, parent: dict | None = None) -> Result:
        """Formulas and classifications of a coerced record at the instant `as_of`."""
        today, now = self.clock(as_of)
        values, hits, aggs = self._run(record, today, now, parent)
        return Result(self, record, values, hits, aggs)

    def coerce(self, raw: dict, *, problems: list | None = None, prefix: str = "") -> dict:
        """A typed copy of `raw`: every field and system attribute present (empty as None), children coerced.

        Raises `RecordInvalid` listing every value that does not fit, unless a
        `problems` list is given to collect them (the value is then left empty).
        """
        raise_at_end = problems is None
        problems = [] if problems is None else problems
        if not isinstance(raw, dict):
            problems.append(FieldProblem(prefix.rstrip(".") or "record", self.message("not_record")))
            raw = {}
        out = dict(raw)
        for key, f, seen in self._inputs:
            value = raw.get(key)
            if value is None or f.formula is not None:
                out[key] = None
                continue
            text = value.__class__ is str
            if text:
                hit = seen.get(value, _MISS)
                if hit is not _MISS:
                    out[key] = hit.copy() if hit.__class__ is list else hit
                    continue
            if is_empty_input(value):
                typed = None
            else:
                try:
                    typed = TYPES[f.type].coerce(value, f.spec, self._ctx)
                except FieldValueError as exc:
                    out[key] = None
                    problems.append(FieldProblem(prefix + key, self.message(exc.code, **exc.params), ))
                    continue
            out[key] = typed
            if text and len(seen) < MEMO_LIMIT:
                seen[value] = typed.copy() if typed.__class__ is list else typed
        for key in ("created_at", "updated_at"):
            value = raw.get(key)
            try:
                out[key] = None if is_empty_input(value) else TYPES["datetime"].coerce(value, {}, self._ctx)
            except FieldValueError as exc:
                out[key] = None
                problems.append(FieldProblem(prefix + key, self.message(exc.code, **exc.params)))
        for key in ("id", "owner") if self.object.parent is None else ("id",):
            value = raw.get(key)
            out[key] = None if is_empty_input(value) else str(value).strip()
        for key, child in self.children.items():
            rows = raw.get(key)
            if rows is None:
                out[key] = []
            elif not isinstance(rows, list):
                problems.append(FieldProblem(prefix + key, self.message("not_children")))
                out[key] = []
            else:
                out[key] = [child.coerce(row, problems=problems, prefix=f"{prefix}{key}[{i}].") for i, row in enumerate(rows)]
        if raise_at_end and problems:
            raise RecordInvalid(problems)
        return out

    def validate(self, raw: dict, as_of: datetime, parent: dict | None = None) -> tuple[dict, Result]:
        """Coerce, classify and apply required / required_if / visible_if (SPEC §2) like a form save.

        Returns the typed record and its result, or raises `RecordInvalid`
        with every problem. A hidden field is neither required nor validated.
        A child record is validated with its (typed) `parent` for `parent.` names.
        """
        problems: list[FieldProblem] = []
        record = self.coerce(raw, problems=problems)
        result = self.classify(record, as_of, parent)
        today, now = self.clock(as_of)
        full = result.record_with_values()
        problems = self._presence(full, problems, today, now, "", parent)
        for key, child in self.children.items():
            for i, row in enumerate(record.get(key) or ()):
                problems = child._presence(row, problems, today, now, f"{key}[{i}].", full)
        if problems:
            raise RecordInvalid(problems)
        return record, result

    def with_defaults(self, raw: dict, as_of: datetime, parent: dict | None = None) -> dict:
        """`raw` with the defaults of its empty fields (SPEC §2), as on creating a record:
        literal defaults first, then `{expr: ...}` defaults evaluated on the values so far."""
        out = dict(raw)
        for key, default in self._literal_defaults:
            if is_empty_input(out.get(key)):
                out[key] = default
        pending = [k for k in self._expr_defaults if is_empty_input(out.get(k))]
        if pending:
            full = self.classify(self.coerce(out, problems=[]), as_of, parent).record_with_values()
            today, now = self.clock(as_of)
            for key in pending:
                out[key] = self._conditions[(key, "default_expr")](full, today, now, parent)
        return out

    def _presence(self, full: dict, problems: list, today, now, prefix: str, parent: dict | None) -> list:
        """Drop problems of hidden fields; add `required` / `required_if` problems of visible empty ones."""
        hidden = {prefix + key for (key, attr), fn in self._conditions.items()
                  if attr == "visible_if" and not fn(full, today, now, parent)}
        problems = [p for p in problems if p.path not in hidden]
        for key, f in self.object.fields.items():
            path = prefix + key
            if path in hidden or f.formula is not None or full.get(key) is not None:
                continue
            if any(p.path == path for p in problems):
                continue
            fn = self._conditions.get((key, "required_if"))
            if f.spec.get("required") is True or (fn is not None and fn(full, today, now, parent)):
                problems.append(FieldProblem(path, self.message("required")))
        return problems

    def hidden_fields(self, record_with_values: dict, as_of: datetime) -> set[str]:
        today, now = self.clock(as_of)
        return {key for (key, attr), fn in self._conditions.items()
                if attr == "visible_if" and not fn(record_with_values, today, now)}

    def required_fields(self, record_with_values: dict, as_of: datetime) -> set[str]:
        """Fields that must be filled for these values: `required`, or a `required_if` that holds."""
        today, now = self.clock(as_of)
        out = {k for k, f in self.object.fields.items() if f.spec.get("required") is True and f.formula is None}
        out |= {key for (key, attr), fn in self._conditions.items()
                if attr == "required_if" and fn(record_with_values, today, now)}
        return out

    @cached_property
    def timeline(self):
        """When this object's computed values change with time alone (see engine.timeline)."""
        from .timeline import Timeline
        return Timeline(self)

    def message(self, code: str, **params) -> str:
        return message(self.bundle.locale, code, **params)


def _reads_locals(node, env) -> bool:
    """Does an aggregate read a formula or classification of the current record (through `parent.`)?"""
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and len(n.parts) == 2 and n.parts[0] == "parent":
            if not env[n.parts[1]].startswith("r["):
                return True
    return False


class Result:
    """Values of one classification run, and what is needed to explain them."""

    __slots__ = ("classifier", "record", "_values", "hits", "aggregates")

    def __init__(self, classifier: Classifier, record: dict, values: tuple, hits: tuple, aggregates: tuple):
        self.classifier = classifier
        self.record = record
        self._values = values
        self.hits = hits
        self.aggregates = aggregates

    @property
    def values(self) -> dict:
        return dict(zip(self.classifier.value_keys, self._values))

    def record_with_values(self) -> dict:
        full = dict(self.record)
        full.update(zip(self.classifier.value_keys, self._values))
        return full

    def explain(self) -> dict:
        """Per classification: its value, the rules that held (index and label), and the values their
        deciding `when` expressions read — fields, formulas, earlier classifications and aggregates."""
        clf = self.classifier
        values = self.values
        aggs = dict(zip(clf.agg_texts, self.aggregates))
        out = {}
        for c, hit in zip(clf.classifications, self.hits):
            if c.hit == "first":
                held = [] if hit == -1 else [c.rules[hit]]
                deciding = c.rules if hit == -1 else c.rules[: hit + 1]
            else:
                held = [c.rules[i] for i in hit]
                deciding = c.rules
            read: dict = {}
            for r in deciding:
                read.update(self._reads(c.key, r, values, aggs))
            out[c.key] = {
                "value": values[c.key],
                "rules": [{"index": r.index, "label": r.label, "when": r.when.source, "read": self._reads(c.key, r, values, aggs)}
                          | ({"points": r.points} if c.hit == "sum" else {}) for r in held],
                "default": c.hit == "first" and hit == -1,
                "read": read,
            }
        return out

    def _reads(self, key: str, rule, values: dict, aggs: dict) -> dict:
        """Values one rule's condition read: names of the record, then aggregates by their text."""
        names, texts = self.classifier.rule_reads[(key, rule.index)]
        read = {name: values[name] if name in values else self.record.get(name) for name in names}
        for text in texts:
            read[text] = aggs.get(text)
        return read

    def to_json(self) -> dict:
        """The record with formula and classification values filled in and `_explain`, JSON-ready."""
        tz = self.classifier.bundle.tz
        out = codecs.to_json(self.record_with_values(), tz)
        out["_explain"] = codecs.to_json(self.explain(), tz)
        return out

