"""The designer's JSON API (/studio/api/...), driven with the Flask test client as the studio pages use it."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"
CRM = DATA / "crm.bundle.yaml"
COMMENTED = DATA / "studio_commented.yaml"
CHECK_CASES = yaml.safe_load((DATA / "studio_check.yaml").read_text("utf-8"))


@pytest.fixture
def admin(app, login, frozen):
    app.json.sort_keys = False  # send new fields' keys in the order given, as a browser does
    return login("root", role="admin")


@pytest.fixture
def crm(publish):
    return publish(CRM)


def _new_record(client, **values):
    response = client.post("/o/customer/new", data=values)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


# -- who may use it --------------------------------------------------------------------------------------


def test_only_admins_reach_the_designer(app, login, frozen):
    anonymous = app.test_client()
    assert anonymous.get("/studio/api/draft").status_code == 401
    assert anonymous.get("/studio/").status_code == 302  # to the login page
    rep = login("alice")
    assert rep.get("/studio/api/draft").status_code == 403
    assert rep.post("/studio/api/publish", json={"note": "x"}).status_code == 403
    assert rep.get("/studio/").status_code == 403
    manager = login("boss", role="manager")
    assert manager.get("/studio/api/versions").status_code == 403


@pytest.mark.parametrize("page", ["", "rules", "yaml", "tester", "impact", "versions", "templates"])
def test_pages_render_for_admins(crm, admin, page):
    response = admin.get(f"/studio/{page}")
    assert response.status_code == 200 and 'name="csrf-token"' in response.get_data(as_text=True)


# -- the draft -------------------------------------------------------------------------------------------


def test_draft_starts_as_a_skeleton_when_nothing_is_published(admin):
    state = admin.get("/studio/api/draft").get_json()
    assert state["problems"] == [] and state["published_version"] is None and state["dirty"] is True
    assert state["document"]["objects"]["customer"]["fields"] == []
    assert state["source"].startswith("# ")


def test_draft_starts_as_the_published_source(crm, admin):
    state = admin.get("/studio/api/draft").get_json()
    assert state["source"] == CRM.read_text("utf-8")
    assert state["base_version"] == crm and state["published_version"] == crm and state["dirty"] is False
    assert [f["key"] for f in state["document"]["objects"]["customer"]["fields"]][:3] == ["name", "phone", "stage"]


def test_ops_edit_the_draft_and_keep_comments(crm, admin):
    ops = [{"op": "insert", "path": ["objects", "customer", "fields", 2],
            "value": {"key": "budget", "type": "money", "label": "预算", "min": 0}},
           {"op": "set", "path": ["objects", "customer", "fields", 0, "label"], "value": "公司名称"},
           {"op": "move", "path": ["objects", "customer", "fields", 2], "to": 0}]
    state = admin.post("/studio/api/draft/ops", json={"ops": ops}).get_json()
    fields = state["document"]["objects"]["customer"]["fields"]
    assert [f["key"] for f in fields][:3] == ["budget", "name", "phone"]
    assert fields[1]["label"] == "公司名称"
    assert state["problems"] == [] and state["dirty"] is True
    assert state["source"].startswith("# A small CRM bundle for the runtime tests")
    assert "- {key: budget, type: money, label: 预算, min: 0}" in state["source"]
    assert admin.get("/studio/api/draft").get_json()["source"] == state["source"]


@pytest.mark.parametrize("ops, message", [
    ([{"op": "set", "path": ["objects", "nobody", "label"], "value": "x"}], "does not exist"),
    ([{"op": "remove", "path": ["objects", "customer", "fields", 99]}], "index must be from 0 to 7"),
    ([{"op": "move", "path": ["objects", "customer", "fields", 0], "to": 42}], "`to` must be"),
    ([{"op": "explode", "path": ["title"]}], "unknown operation"),
    ([], "non-empty list"),
])
def test_a_bad_op_changes_nothing(crm, admin, ops, message):
    good = {"op": "set", "path": ["title"], "value": "改过的标题"}
    response = admin.post("/studio/api/draft/ops", json={"ops": [good] + ops if ops else []})
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert admin.get("/studio/api/draft").get_json()["source"] == CRM.read_text("utf-8")


def test_unparsable_source_is_kept_with_its_problem(crm, admin):
    broken = CRM.read_text("utf-8").replace("title: 测试客户", "title: [测试客户")
    state = admin.put("/studio/api/draft/source", json={"source": broken}).get_json()
    assert state["document"] is None and state["source"] == broken
    assert state["problems"] and state["problems"][0]["line"] > 1 and "not valid YAML" in state["problems"][0]["message"]
    assert admin.get("/studio/api/draft").get_json()["source"] == broken
    assert admin.post("/studio/api/draft/ops", json={"ops": [{"op": "set", "path": ["title"], "value": "x"}]}
                      ).status_code == 400
    assert admin.post("/studio/api/publish", json={"note": "x"}).status_code == 400


def test_an_invalid_expression_is_located_and_cannot_be_published(crm, admin):
    text = CRM.read_text("utf-8").replace('annual_revenue >= 100000"', 'anual_revenue >= 100000"')
    state = admin.put("/studio/api/draft/source", json={"source": text}).get_json()
    [problem] = state["problems"]
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "anual_revenue >= 100000" in ln)
    assert problem["line"] == line and problem["path"] == "classifications[0].rules[1].when"
    assert text.splitlines()[line - 1][problem["col"] - 1:].startswith("anual_revenue")
    assert "did you mean `annual_revenue`" in problem["message"]
    response = admin.post("/studio/api/publish", json={"note": "broken"})
    assert response.status_code == 400 and response.get_json()["problems"][0]["line"] == line
    assert len(admin.get("/studio/api/versions").get_json()) == 1


def test_reset_goes_back_to_the_published_source(crm, admin):
    admin.post("/studio/api/draft/ops", json={"ops": [{"op": "set", "path": ["title"], "value": "新标题"}]})
    state = admin.post("/studio/api/draft/reset").get_json()
    assert state["source"] == CRM.read_text("utf-8") and state["dirty"] is False


def test_import_and_export_keep_the_file_as_written(admin):
    text = COMMENTED.read_text("utf-8")
    state = admin.post("/studio/api/draft/import", data={"bundle": (io.BytesIO(text.encode("utf-8")), "b.yaml")},
                       content_type="multipart/form-data").get_json()
    assert state["source"] == text and state["problems"] == []
    admin.post("/studio/api/draft/ops", json={"ops": [
        {"op": "set", "path": ["objects", "customer", "fields", 1, "label"], "value": "联系电话"}]})
    exported = admin.get("/studio/export")
    assert exported.headers["Content-Disposition"] == 'attachment; filename="commented-crm.yaml"'
    written, edited = text.splitlines(), exported.get_data(as_text=True).splitlines()
    changed = [i for i, (a, b) in enumerate(zip(written, edited)) if a != b]
    assert len(edited) == len(written) and len(changed) == 1
    assert edited[changed[0]].startswith("      - {key: phone, type: phone, label: 联系电话}")
    assert edited[changed[0]].endswith("# 可以为空")


def test_import_refuses_what_is_not_text(admin):
    response = admin.post("/studio/api/draft/import", data={"bundle": (io.BytesIO(b"\xff\xfe\x00bundle"), "b.yaml")},
                          content_type="multipart/form-data")
    assert response.status_code == 400 and "UTF-8" in response.get_json()["error"]
    assert admin.post("/studio/api/draft/import", data={}, content_type="multipart/form-data").status_code == 400


# -- editing helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("label, key", [("客户名称", "ke_hu_ming_cheng"), ("Annual Budget", "annual_budget"), ("Annual Revenue", "annual_revenue_2"),
                                        ("手机号", "shou_ji_hao_2"), ("100% 满意", "f_100_man_yi"), ("id", "id_2")])
def test_key_from_label(crm, admin, label, key):
    admin.put("/studio/api/draft/source", json={"source": CRM.read_text("utf-8").replace(
        "key: phone,", "key: shou_ji_hao,")})
    assert admin.get("/studio/api/key", query_string={"label": label, "object": "customer"}).get_json() == {"key": key}


def test_completions_list_fields_with_labels_and_every_function(crm, admin):
    reply = admin.get("/studio/api/completions", query_string={"object": "customer", "context": "condition"}).get_json()
    fields = {f["key"]: f for f in reply["fields"]}
    assert fields["annual_revenue"]["label"] == "年采购额" and fields["annual_revenue"]["type"] == "number"
    assert fields["tier"]["kind"] == "classification" and fields["order.amount"]["type"] == "number"
    names = {f["name"] for f in reply["functions"]}
    assert {"days_since", "coalesce", "count", "if"} <= names and all(f["doc"] for f in reply["functions"])
    assert "and" in reply["keywords"]
    formula = admin.get("/studio/api/completions", query_string={"object": "customer", "context": "formula"}).get_json()
    assert "tier" not in {f["key"] for f in formula["fields"]}
    assert admin.get("/studio/api/completions", query_string={"object": "nope"}).status_code == 400


def test_only_changed_automations_complete_and_check_old_values(crm, admin):
    def old_names(context):
        reply = admin.get("/studio/api/completions", query_string={"object": "customer", "context": context})
        return {f["key"]: f for f in reply.get_json()["fields"] if f["kind"] == "old"}
    changed = old_names("changed")
    assert changed["old.tier"]["label"] == "客户等级" and changed["old.annual_revenue"]["type"] == "number"
    assert old_names("condition") == {} and old_names("formula") == {}
    assert admin.get("/studio/api/completions", query_string={"object": "customer", "context": "old"}).status_code == 400
    wrong = admin.post("/studio/api/check", json={"object": "customer", "expression": "tier", "context": "old"})
    assert wrong.status_code == 400 and "changed" in wrong.get_json()["error"]


def test_every_function_of_the_language_has_help():
    from designer.studio.check import FUNCTION_HELP
    from engine.expr.functions import FUNCTIONS
    from engine.expr.parser import AGGREGATES
    assert set(FUNCTIONS) | AGGREGATES == set(FUNCTION_HELP)


@pytest.mark.parametrize("case", CHECK_CASES, ids=[c["name"] for c in CHECK_CASES])
def test_check_expression(crm, admin, case):
    reply = admin.post("/studio/api/check", json={"object": "customer", "expression": case["expression"],
                                                  "want": case["want"], "context": case.get("context", "condition")}
                       ).get_json()
    assert reply["ok"] is case["ok"], reply
    if "type" in case:
        assert reply["type"] == case["type"]
    if not case["ok"]:
        [error] = reply["errors"]
        assert error["col"] == case["col"]
        assert error["end_col"] == case.get("end_col", error["end_col"]) and error["end_col"] > error["col"]
        assert case.get("message", "") in error["message"]


def test_check_shows_the_value_on_a_sample_record(crm, admin, login):
    rep = login("alice")
    record_id = _new_record(rep, name="样本公司", stage="成交", annual_revenue="250000")
    reply = admin.post("/studio/api/check", json={"object": "customer", "expression": "annual_revenue * 2 + 1",
                                                  "want": "any", "sample_record_id": record_id}).get_json()
    assert reply["ok"] and reply["value"] == 500001 and reply["value_error"] is None
    reply = admin.post("/studio/api/check", json={"object": "customer", "expression": "tier",
                                                  "sample_record_id": record_id}).get_json()
    assert reply["value"] == "B"
    missing = admin.post("/studio/api/check", json={"object": "customer", "expression": "tier",
                                                    "sample_record_id": 999999}).get_json()
    assert missing["ok"] and missing["value"] is None and "999999" in missing["value_error"]


def test_check_works_while_another_part_of_the_draft_is_broken(crm, admin):
    text = CRM.read_text("utf-8").replace('"stage == \'流失\'", value: 已流失', '"stag == \'流失\'", value: 已流失')
    assert admin.put("/studio/api/draft/source", json={"source": text}).get_json()["problems"]
    reply = admin.post("/studio/api/check", json={"object": "customer", "expression": "annual_revenue > 5"}).get_json()
    assert reply["ok"] is True


# -- the rule tester -------------------------------------------------------------------------------------


def test_tester_on_pasted_values_uses_the_draft(crm, admin):
    admin.post("/studio/api/draft/ops", json={"ops": [
        {"op": "set", "path": ["classifications", 0, "rules", 1, "when"], "value": "annual_revenue >= 50000"}]})
    reply = admin.post("/studio/api/test", json={"object": "customer", "values": {
        "name": "试算公司", "annual_revenue": "80000", "stage": "流失",
        "order": [{"date": "2026-03-01", "amount": "100"}, {"date": "2026-03-02", "amount": "200"}]}}).get_json()
    assert reply["formulas"] == {"spend": 300}
    tier = next(c for c in reply["classifications"] if c["key"] == "tier")
    assert tier["value"] == "B" and tier["label"] == "客户等级"
    assert [(r["held"], r["decided"]) for r in tier["rules"]] == [(False, False), (True, True)]
    assert tier["explain"] and "年采购十万以上" in tier["explain"][0]
    tags = next(c for c in reply["classifications"] if c["key"] == "tags")
    assert tags["value"] == ["已流失", "复购"] and all(r["held"] for r in tags["rules"])
    assert reply["problems"] == [{"field": "lost_reason", "message": reply["problems"][0]["message"]}]
    assert reply["followup"] is None  # the CRM bundle has no follow-up policy


def test_tester_on_a_live_record_with_followup(admin, publish, login):
    text = CRM.read_text("utf-8") + """
followup:
  - key: cadence
    object: customer
    activity: order
    activity_time: date
    cadence:
      - {when: "tier == 'A'", every: 7d, label: A 级每周}
      - {when: "true", every: 30d}
    reminders:
      - {at: -1d, notify: owner}
      - {at: 2d, notify: manager}
"""
    publish(text)
    rep = login("alice")
    record_id = _new_record(rep, name="大客户", stage="成交", annual_revenue="2000000")
    reply = admin.post("/studio/api/test", json={"record_id": record_id}).get_json()
    assert next(c for c in reply["classifications"] if c["key"] == "tier")["value"] == "A"
    follow = reply["followup"]
    assert follow["policy"] == "cadence" and follow["cadence"] == "A 级每周"
    assert follow["due_at"].startswith("2026-03-22T09:00:00+08:00")
    assert [r["notify"] for r in follow["reminders"]] == ["owner", "manager"]
    assert follow["reminders"][0]["at"].startswith("2026-03-21") and follow["reminders"][1]["escalation"] is True
    assert admin.post("/studio/api/test", json={"record_id": 424242}).status_code == 404


def test_tester_refuses_a_draft_with_problems(crm, admin):
    admin.put("/studio/api/draft/source", json={"source": "bundle: [x"})
    response = admin.post("/studio/api/test", json={"object": "customer", "values": {}})
    assert response.status_code == 409 and response.get_json()["problems"]


# -- publishing, history and rollback ----------------------------------------------------------------------


def test_publish_records_who_and_why_then_diff_and_rollback(crm, admin):
    admin.post("/studio/api/draft/ops", json={"ops": [
        {"op": "insert", "path": ["objects", "customer", "fields", 8],
         "value": {"key": "budget", "type": "money", "label": "预算"}}]})
    reply = admin.post("/studio/api/publish", json={"note": "加预算字段"}).get_json()
    second = reply["version"]
    assert second == crm + 1 and reply["report"]["fields_added"] == ["customer.budget"]
    state = admin.get("/studio/api/draft").get_json()
    assert state["dirty"] is False and state["base_version"] == second
    history = admin.get("/studio/api/versions").get_json()
    assert [v["id"] for v in history] == [second, crm]
    assert history[0]["published_by"] == "root" and history[0]["note"] == "加预算字段"
    diff = admin.get(f"/studio/api/versions/{crm}/diff/{second}").get_json()
    assert "+      - {key: budget, type: money, label: 预算}" in diff["text_diff"]
    assert diff["model_diff"]["fields_added"] == ["customer.budget"]
    assert admin.get(f"/studio/api/versions/{crm}/diff/99").status_code == 404
    restored = admin.post(f"/studio/api/versions/{crm}/restore").get_json()
    assert restored["source"] == CRM.read_text("utf-8") and restored["dirty"] is True
    third = admin.post("/studio/api/publish", json={"note": "回滚"}).get_json()["version"]
    assert admin.get("/studio/api/versions").get_json()[0]["report"]["fields_removed"] == ["customer.budget"]
    assert third == second + 1


# -- templates -------------------------------------------------------------------------------------------


def test_templates_are_listed_and_installed(admin):
    templates = admin.get("/studio/api/templates").get_json()
    names = {t["name"]: t for t in templates}
    assert {"manufacturing", "retail", "saas", "education", "medical"} <= set(names)
    assert names["manufacturing"]["title"] == "制造业 B2B 客户分级" and names["manufacturing"]["description"]
    description = names["manufacturing"]["description"]
    assert description.startswith("面向设备、零部件") and "客户按近一年实际采购额分为" in description
    assert "\n• 分级：tier（S/A/B/C）" in description and not any(c in description for c in "*`#")
    assert "r_level/f_level/m_level" in names["retail"]["description"]
    state = admin.post("/studio/api/templates/manufacturing/install").get_json()
    assert state["problems"] == [] and state["document"]["bundle"] == "manufacturing-b2b"
    assert "# 制造业 B2B 客户分级与跟进模板" in state["source"]
    assert admin.post("/studio/api/templates/..%2Fetc/install").status_code == 404
    assert admin.post("/studio/api/templates/nope/install").status_code == 404


# -- impact preview ----------------------------------------------------------------------------------------

IMPACT = DATA / "studio_impact.yaml"


def test_impact_preview_counts_transitions_and_what_would_follow(admin, publish, login):
    publish(IMPACT)
    rep = login("alice")
    for name, stage, revenue, renew in [("甲", "成交", "2000000", "2026-05-01"), ("乙", "成交", "300000", "2026-06-01"),
                                        ("丙", "成交", "250000", ""), ("丁", "流失", "5000", "2026-01-01"),
                                        ("戊", "潜在", "", "")]:
        _new_record(rep, name=name, stage=stage, revenue=revenue, renew_on=renew)
    text = IMPACT.read_text("utf-8")
    admin.put("/studio/api/draft/source", json={"source": text.replace(
        '"revenue >= 1000000", value: A', '"revenue >= 200000", value: A').replace(" and revenue < 0", "")})
    reply = admin.post("/studio/api/impact").get_json()
    tier = reply["objects"]["customer"]["classifications"]["tier"]
    assert reply["records"] == 5 and tier["moved"] == 2
    assert {(t["old"], t["new"]): t["count"] for t in tier["transitions"]} == {("B", "A"): 2, ("A", "A"): 1, ("C", "C"): 2}
    samples = next(t for t in tier["transitions"] if t["old"] == "B")["samples"]
    assert [s["title"] for s in samples] == ["乙", "丙"] and "百万以上" in samples[0]["sentence"]
    # 乙 and 丙 become A: each gets a weekly follow-up with two future reminders
    assert reply["followups"] == {"created": 2, "cancelled": 0, "moved": 0, "reminders_created": 4,
                                  "reminders_cancelled": 0}
    assert reply["pool_entries"] == 1 and reply["pools"] == {"sea": 1}  # 丁: C and lost (戊 is C but not lost)
    assert reply["automations"] == {"renewal": 2}  # 甲 and 乙 renew later and are not C
    assert reply["complete"] is True and reply["looked_at"] == 5
    # nothing was written: the values and the draft stay as they were
    assert admin.get("/studio/api/versions").get_json()[0]["id"] == 1
    assert admin.post("/studio/api/impact").get_json()["followups"]["created"] == 2


def test_a_long_impact_preview_is_followed_by_its_count_and_a_newer_one_stops_it(admin, publish, login, app,
                                                                              monkeypatch):
    from designer.bundles import impact
    from designer.studio import previewing
    publish(IMPACT)
    rep = login("alice")
    for i in range(5):
        _new_record(rep, name=f"客户{i}", stage="成交", revenue=str(100000 * i), renew_on="")
    admin.put("/studio/api/draft/source", json={"source": IMPACT.read_text("utf-8").replace(
        '"revenue >= 1000000", value: A', '"revenue >= 200000", value: A')})
    at_once = admin.post("/studio/api/impact").get_json()  # a few records: the answer within the request
    assert at_once["records"] == 5 and at_once["job"]["status"] == "done"

    monkeypatch.setattr(previewing, "WAIT", 0)
    monkeypatch.setattr(impact, "STEP", 1)
    gate = __import__("threading").Event()
    counted = []
    real = impact._Count.add

    def slow(self, n=1):  # the preview waits after its first record until the test lets it go on
        real(self, n)
        counted.append(self.done)
        gate.wait(10)
    monkeypatch.setattr(impact._Count, "add", slow)
    started = admin.post("/studio/api/impact")
    try:
        assert started.status_code == 202
        job = started.get_json()["job"]
        assert job["status"] == "running" and not job["finished"]
        for _ in range(200):
            polled = admin.get(f"/studio/api/impact/{job['id']}")
            if polled.get_json()["job"]["done"] >= 1:
                break
            __import__("time").sleep(0.05)
        assert polled.status_code == 202 and (polled.get_json()["job"]["done"], polled.get_json()["job"]["total"]) \
            == (1, 5)  # the count as it grows
        newer = admin.post("/studio/api/impact").get_json()["job"]  # the admin asks again: the first one stops
    finally:
        gate.set()
        previewing.wait(app, job["id"], 10)
    previewing.wait(app, newer["id"], 10)
    stopped = admin.get(f"/studio/api/impact/{job['id']}")
    assert stopped.status_code == 409 and stopped.get_json()["job"]["status"] == "superseded"
    done = admin.get(f"/studio/api/impact/{newer['id']}")
    assert done.status_code == 200 and done.get_json()["records"] == 5
    assert {k: v for k, v in done.get_json().items() if k != "job"} == \
        {k: v for k, v in at_once.items() if k != "job"}  # the same preview as the one given at once
    assert admin.get("/studio/api/impact/999").status_code == 404
    from datetime import UTC, datetime

    from designer.clock import freeze
    with freeze(datetime(2027, 1, 1, tzinfo=UTC)):  # a day later the next preview deletes the old ones
        previewing.wait(app, admin.post("/studio/api/impact").get_json()["job"]["id"], 10)
    assert admin.get(f"/studio/api/impact/{newer['id']}").status_code == 404


def test_impact_preview_refuses_an_invalid_draft(crm, admin):
    admin.put("/studio/api/draft/source", json={"source": CRM.read_text("utf-8").replace("default: C", "default: Z")})
    response = admin.post("/studio/api/impact")
    assert response.status_code == 409 and "not among the declared values" in response.get_json()["problems"][0]["message"]
