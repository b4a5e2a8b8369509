"""The rule tester: one record (a live one or values typed in) run through the DRAFT bundle.

It shows what the admin needs to trust a rule before publishing: every
formula's value, each classification's value with the sentence that explains
it, every rule's condition evaluated on its own (a first-hit table stops at
the first rule that holds, but the admin wants to see the others too), and
the follow-up the record would get — due time and each reminder.
"""
from __future__ import annotations

from datetime import datetime

from engine import Bundle, RecordInvalid, codecs
from engine.explain import describe
from engine.expr.codegen import compile_expression
from engine import followup


def run(bundle: Bundle, object_key: str, raw: dict, as_of: datetime, parent: dict | None = None) -> dict:
    """What the draft makes of `raw` (an object's values as typed or stored, children under their keys)."""
    clf = bundle.classifier(object_key)
    obj = clf.object
    problems: list = []
    typed = clf.coerce(raw, problems=problems)
    parent_typed = None
    if parent is not None and obj.parent is not None:
        parent_typed = bundle.classifier(obj.parent).coerce(parent, problems=[])
    try:
        clf.validate(raw, as_of, parent_typed)
    except RecordInvalid as exc:
        problems = exc.problems
    result = clf.classify(typed, as_of, parent_typed)
    full = result.record_with_values()
    values = result.values
    tz = bundle.tz
    sentences = describe(clf, result.explain())
    today, now = clf.clock(as_of)
    classifications = []
    for c, hit in zip(clf.classifications, result.hits):
        decided = {hit} if isinstance(hit, int) else set(hit)
        rules = []
        for position, rule in enumerate(c.rules):
            holds = compile_expression(bundle.module, rule.when, f"rule_{c.key}_{rule.index}", mode="truth",
                                       parent=obj.parent is not None)
            rules.append({"index": rule.index, "when": rule.when.source, "label": rule.label,
                          "value": codecs.to_json(rule.value, tz), "points": codecs.to_json(rule.points, tz),
                          "held": bool(holds(full, today, now, parent_typed)),
                          "decided": position in decided})
        sentence = sentences.get(c.key)
        classifications.append({"key": c.key, "label": c.label, "hit": c.hit,
                                "value": codecs.to_json(values[c.key], tz),
                                "explain": [sentence] if sentence else [], "rules": rules})
    formulas = {f.key: codecs.to_json(values[f.key], tz) for f in clf.formulas}
    return {"formulas": formulas, "classifications": classifications,
            "followup": _followup(bundle, object_key, full, as_of) if obj.parent is None else None,
            "problems": [{"field": p.path, "message": p.message} for p in problems]}


def _followup(bundle: Bundle, object_key: str, values: dict, as_of: datetime) -> dict | None:
    """The earliest follow-up the record would be due for under the draft's policies, with its reminders."""
    best = None
    created = values.get("created_at") or as_of
    for policy in followup.policies(bundle, object_key):
        last = None
        if policy.activity:
            times = [followup.activity_instant(bundle, row.get(policy.activity_time))
                     for row in values.get(policy.activity) or ()]
            times = [t for t in times if t is not None]
            last = max(times) if times else None
        due = followup.next_due(bundle, policy, values, last, created, as_of)
        if due is not None and (best is None or due < best[1]):
            best = (policy, due, last)
    if best is None:
        return None
    policy, due, last = best
    entry = followup.cadence_of(bundle, policy, values, as_of)
    return {"policy": policy.key, "label": policy.label, "cadence": entry.label if entry else None,
            "last_activity": codecs.to_json(last, bundle.tz), "due_at": codecs.to_json(due, bundle.tz),
            "overdue": due <= as_of,
            "reminders": [{"at": codecs.to_json(at, bundle.tz), "notify": r.notify, "label": r.label,
                           "escalation": r.escalation} for r, at in followup.reminder_times(bundle, policy, due)]}
