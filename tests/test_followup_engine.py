"""engine.followup: due times and reminder instants, from tests/data/followup_due.yaml.

Time zones with DST (America/New_York), China's calendar with the 2026 Spring
Festival, Mid-Autumn and National Day holidays and their 调休 working days,
working hours, and intervals in days and in hours.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from engine import BundleInvalid, load_bundle_text
from engine import followup

DATA = yaml.safe_load((Path(__file__).parent / "data" / "followup_due.yaml").read_text("utf-8"))


def bundle_for(settings: dict):
    policy = {"key": "cadence", "object": "customer", "cadence": [{"when": "true", "every": settings["every"]}],
              "working_days": settings["working_days"],
              "reminders": [{"at": at, "notify": "owner"} for at in settings["reminders"]]}
    if "working_hours" in settings:
        policy["working_hours"] = settings["working_hours"]
    doc = {"bundle": "due-times", "timezone": settings["timezone"], "calendar": settings["calendar"],
           "objects": {"customer": {"fields": [{"key": "name", "type": "text"}]}}, "followup": [policy]}
    return load_bundle_text(yaml.safe_dump(doc, allow_unicode=True), "due.yaml")


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["name"] for c in DATA["cases"]])
def test_due_and_reminders(case):
    bundle = bundle_for({**DATA["defaults"], **case.get("settings", {})})
    policy = followup.policies(bundle, "customer")[0]
    base = followup.activity_instant(bundle, case["base"])
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    due = followup.next_due(bundle, policy, {"name": "x"}, base, as_of, as_of)
    assert due == datetime.fromisoformat(case["due"])
    assert due.tzinfo == UTC
    got = [at for _reminder, at in followup.reminder_times(bundle, policy, due)]
    assert got == [datetime.fromisoformat(t) for t in case["reminders"]]


def test_created_at_counts_without_activity_and_first_cadence_wins():
    bundle = load_bundle_text("""
bundle: first-wins
objects:
  customer:
    fields: [{key: revenue, type: number}]
followup:
  - key: cadence
    object: customer
    cadence:
      - {when: "revenue >= 100", every: 1d}
      - {when: "revenue >= 10", every: 10d}
""", "b.yaml")
    policy = followup.policies(bundle)[0]
    created = datetime(2026, 3, 2, 12, tzinfo=UTC)  # 20:00 in Shanghai, a Monday
    at = created
    assert followup.next_due(bundle, policy, {"revenue": 500}, None, created, at) == datetime(2026, 3, 3, 1, tzinfo=UTC)
    assert followup.next_due(bundle, policy, {"revenue": 50}, None, created, at) == datetime(2026, 3, 12, 1, tzinfo=UTC)
    assert followup.next_due(bundle, policy, {"revenue": 5}, None, created, at) is None
    assert followup.next_due(bundle, policy, {"revenue": None}, None, created, at) is None  # empty: no entry holds


def test_escalation_is_a_reminder_to_the_manager_or_admins():
    assert followup.Reminder(0, followup._DAY, "manager", None).escalation
    assert followup.Reminder(0, followup._DAY, ["owner", "admins"], None).escalation
    assert not followup.Reminder(0, followup._DAY, "owner", None).escalation


@pytest.mark.parametrize("spec,path,message", [
    ({"every": "7 days"}, "followup[0].cadence[0].every", "required form"),
    ({"every": "-7d"}, "followup[0].cadence[0].every", "required form"),
    ({"at": "tomorrow"}, "followup[0].reminders[0].at", "required form"),
    ({"catch_up": "some"}, "followup[0].catch_up", "not one of"),
])
def test_bad_durations_are_located(spec, path, message):
    policy = {"key": "cadence", "object": "customer", "cadence": [{"when": "true", "every": spec.get("every", "7d")}],
              "reminders": [{"at": spec.get("at", "1d"), "notify": "owner"}]}
    if "catch_up" in spec:
        policy["catch_up"] = spec["catch_up"]
    doc = {"bundle": "bad", "objects": {"customer": {"fields": [{"key": "name", "type": "text"}]}},
           "followup": [policy]}
    with pytest.raises(BundleInvalid) as err:
        load_bundle_text(yaml.safe_dump(doc), "bad.yaml")
    assert any(path in str(p) and message in str(p) for p in err.value.problems), err.value.problems
