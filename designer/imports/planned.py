"""The part of a new record's planning that its values alone decide, worked out while the row is checked.

The planners of a batched import's new records spend most of their time on
two things: the next instant its values change with time alone
(`Timeline.next_change`, for the time-driven reclassification) and the
cadence entry each follow-up policy picks (`followup.cadence_of`, on the
values as stored). Both read only the record's values at the batch's
instant — unless an expression reads what is decided later, against the
database: the record's id, its owner (a `created` automation may assign
one) or an autonumber. When none does, `batch.check` works them out with
the rest of the row (in the import's helper process, if there is one) and
the planners take them from `Change.ahead` instead of computing them again.
"""
from __future__ import annotations

from datetime import datetime

from engine import followup
from engine.codecs import to_json


#: names of a record that are decided when it is written, not by its row
_SYSTEM = {"id", "owner"}


class Foresight:
    """What of one object's planning `work_out` gives, decided once per table of rows."""

    def __init__(self, bundle, obj):
        clf = bundle.classifier(obj.key)
        self.classifier = clf
        self.classifications = [c.key for c in clf.classifications]
        later = _SYSTEM | {k for k, f in obj.fields.items() if f.type == "autonumber"}
        computed = [f.formula for f in clf.formulas] + [r.when for c in clf.classifications for r in c.rules]
        timeline = clf.timeline
        #: the timeline, when the instant its values change does not depend on what is decided later
        self.timeline = timeline if timeline.depends_on_time and not _reads(computed, later) else None
        policies = followup.policies(bundle, obj.key)
        whens = [bundle.checked.get(("followup", i, "cadence", j, "when"))
                 for i, spec in enumerate(bundle.document.get("followup") or []) if spec.get("object") == obj.key
                 for j in range(len(spec.get("cadence") or []))]
        #: the follow-up policies, when their cadences can be picked from the row's values
        self.policies = policies if policies and not any(p.reads_children for p in policies) and not _reads(
            [w for w in whens if w is not None], later) else None

    def work_out(self, typed: dict, values: dict, now: datetime) -> dict:
        """`next_change` (an instant or None) and `cadence` (each policy's entry index or None) of the new
        record with `typed` and its computed `values`, where they can be known from them."""
        out = {}
        if self.timeline is not None:
            out["next_change"] = self.timeline.next_change(typed, now)
        if self.policies is not None:
            # the values as `followup.stored_values` reads them back from the stored record: its fields and
            # formulas typed as stored (what a save typed is what it reads back), classifications as stored
            stored = {**typed, **values}
            stored.update({key: to_json(values[key]) for key in self.classifications})
            out["cadence"] = [None if (e := followup.cadence_of(self.classifier.bundle, p, stored, now)) is None
                              else e.index for p in self.policies]
        return out


def _reads(checked: list, names: set[str]) -> bool:
    """Does any of the expressions read one of `names` of the record (`Checked.reads`: through `parent.` in
    an aggregate's `where` too)?"""
    return any(names.intersection(chk.reads) for chk in checked)
