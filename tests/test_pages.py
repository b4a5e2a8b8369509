"""Record pages as reps and managers use them (Flask test client; the browser test is test_browser.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"


@pytest.fixture
def crm(publish):
    return publish(BUNDLE)


def _new(client, **values):
    return client.post("/o/customer/new", data=values)


def test_rep_creates_a_record_and_sees_tier_and_why(crm, login):
    alice = login("alice")
    response = _new(alice, name="华东精密机械有限公司", stage="成交", annual_revenue="1,200,000", phone="138 1234 5678")
    assert response.status_code == 302
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    assert "华东精密机械有限公司" in page and 'class="badge t0"' in page and ">A<" in page
    assert "命中规则 1「年采购百万以上或累计消费五十万以上」" in page
    assert "KH-2026-0001" in page  # autonumber assigned
    assert "13812345678" in page  # phone normalised


def test_hidden_field_is_not_required_but_visible_one_is(crm, login):
    alice = login("alice")
    assert _new(alice, name="甲公司", stage="成交").status_code == 302
    response = _new(alice, name="乙公司", stage="流失")
    assert response.status_code == 422
    assert "必填" in response.get_data(as_text=True)


def test_state_endpoint_follows_the_typed_values(crm, login):
    alice = login("alice")
    hidden = alice.post("/o/customer/state", json={"stage": "成交"}).get_json()
    shown = alice.post("/o/customer/state", json={"stage": "流失"}).get_json()
    assert "lost_reason" in hidden["hidden"] and "lost_reason" not in shown["hidden"]
    assert "lost_reason" in shown["required"] and "name" in shown["required"]


def test_other_rep_gets_404_and_manager_sees_team(crm, login, make_user):
    make_user("boss", role="manager")
    alice = login("alice", manager="boss")
    bob = login("bob")
    location = _new(alice, name="丙公司").headers["Location"]
    assert bob.get(location).status_code == 404
    assert bob.get(location + "/edit").status_code == 404
    assert bob.post(location + "/order", data={"order-date": "2026-03-01", "order-amount": "1"}).status_code == 404
    boss = login("boss2", role="manager")
    assert boss.get(location).status_code == 404  # not their team
    boss_client = login("admin1", role="admin")
    assert boss_client.get(location).status_code == 200


def test_manager_of_the_owner_sees_the_record(crm, login, app, make_user):
    boss_password = make_user("boss", role="manager")
    alice = login("alice", manager="boss")
    location = _new(alice, name="丁公司").headers["Location"]
    boss = app.test_client()
    boss.post("/login", data={"username": "boss", "password": boss_password})
    assert boss.get(location).status_code == 200
    assert "丁公司" in boss.get("/o/customer/").get_data(as_text=True)


def test_stale_edit_is_refused_and_input_kept(crm, login):
    alice = login("alice")
    location = _new(alice, name="戊公司", annual_revenue="10").headers["Location"]
    first = alice.post(location + "/edit", data={"name": "戊公司", "annual_revenue": "200000", "Version": "1"})
    assert first.status_code == 302
    stale = alice.post(location + "/edit", data={"name": "戊公司", "annual_revenue": "5", "Version": "1"})
    assert stale.status_code == 409
    body = stale.get_data(as_text=True)
    assert "Someone else changed this record" in body or "其他人" in body or "他人" in body
    assert 'value="5"' in body
    page = alice.get(location).get_data(as_text=True)
    assert "¥200,000.00" in page  # the first edit stands


def test_children_recompute_formulas_and_history(crm, login):
    alice = login("alice")
    location = _new(alice, name="己公司").headers["Location"]
    for amount in ("300000", "250000"):
        r = alice.post(location + "/order", data={"order-date": "2026-03-01", "order-amount": amount})
        assert r.status_code == 302
    page = alice.get(location).get_data(as_text=True)
    assert "¥550,000.00" in page and ">A<" in page and "复购" in page
    assert "C → <strong>A</strong>" in page  # classification history
    bad = alice.post(location + "/order", data={"order-date": "soon", "order-amount": "-1"}, follow_redirects=True)
    assert "日期" in bad.get_data(as_text=True)


def test_duplicates_block_and_warn(crm, login):
    alice = login("alice")
    bob = login("bob")
    assert _new(alice, name="杭州智云科技有限公司", phone="13800000001").status_code == 302
    blocked = _new(bob, name="智云科技（杭州）有限公司")
    assert blocked.status_code == 422 and "杭州智云科技有限公司" in blocked.get_data(as_text=True)
    assert "alice" in blocked.get_data(as_text=True)
    warned = _new(bob, name="另一家公司", phone="+86 138-0000-0001")
    assert warned.status_code == 200 and "Save anyway" in warned.get_data(as_text=True) or "仍然保存" in warned.get_data(as_text=True)
    confirmed = _new(bob, name="另一家公司", phone="+86 138-0000-0001", allow_duplicates="1")
    assert confirmed.status_code == 302


def test_list_filters_search_expression_and_pages(crm, login, app):
    alice = login("alice")
    for i in range(7):
        _new(alice, name=f"客户{i:02d}", annual_revenue=str(i * 300000))
    listing = alice.get("/o/customer/?c.tier=A").get_data(as_text=True)
    assert "客户04" in listing and "客户01" not in listing
    assert "客户03" in alice.get("/o/customer/?q=户03").get_data(as_text=True)
    page = alice.get("/o/customer/?expr=annual_revenue+%3E%3D+600000+and+annual_revenue+%3C+1200000").get_data(as_text=True)
    assert "客户02" in page and "客户03" in page and "客户04" not in page and "客户01" not in page
    bad = alice.get("/o/customer/?expr=revenu+%3E+1").get_data(as_text=True)
    assert "did you mean" in bad
    app.config["PAGE_SIZE"] = 3
    first = alice.get("/o/customer/?sort=title")
    assert first.status_code == 200


def test_login_is_throttled(crm, app, make_user):
    make_user("alice")
    client = app.test_client()
    for _ in range(5):
        assert client.post("/login", data={"username": "alice", "password": "wrong"}).status_code == 401
    assert client.post("/login", data={"username": "alice", "password": "pw-alice-secret"}).status_code == 429


def test_labels_and_values_are_escaped(publish, login):
    source = BUNDLE.read_text("utf-8").replace("label: 客户名称", "label: \"<script>alert(1)</script>\"")
    publish(source)
    alice = login("alice")
    location = _new(alice, name="<img src=x onerror=alert(1)>").headers["Location"]
    page = alice.get(location).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    form = alice.get("/o/customer/new").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in form


def test_no_bundle_yet(app, login):
    client = login("alice")
    assert client.get("/").status_code == 503


def test_score_filter_is_a_minimum(crm, login):
    alice = login("alice")
    _new(alice, name="高分", annual_revenue="2000000", phone="13800000009")
    _new(alice, name="低分")
    page = alice.get("/o/customer/?c.score.min=60").get_data(as_text=True)
    assert "高分" in page and "低分" not in page


def test_readonly_fields_are_shown_not_edited(publish, login, app):
    publish(BUNDLE.read_text("utf-8").replace(
        "      - {key: region, type: region, label: 地区}",
        "      - {key: region, type: region, label: 地区}\n      - {key: source, type: text, label: 来源, readonly: true, default: 官网}"))
    alice = login("alice")
    form = alice.get("/o/customer/new").get_data(as_text=True)
    assert 'name="source"' not in form and "来源" in form
    location = _new(alice, name="只读公司").headers["Location"]
    assert "官网" in alice.get(location).get_data(as_text=True)
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.models import Record
    from designer.records.store import save
    from engine import RecordInvalid
    with app.app_context(), transaction(app) as s:
        record = s.get(Record, int(location.rsplit("/", 1)[1]))
        with pytest.raises(RecordInvalid) as info:
            save(s, current(s), "alice", "customer", {"source": "电话"}, record=record, now=record.updated_at)
    assert info.value.problems[0].path == "source" and "只读" in info.value.problems[0].message


@pytest.mark.parametrize("q,found", [
    ("智云", {"杭州智云科技有限公司", "智云（上海）"}), ("智云科技", {"杭州智云科技有限公司"}),
    ("ZHIYUN", {"Zhiyun Ltd"}), ("100%", {"100% 纯净水"}), ("有限公司", {"杭州智云科技有限公司"}), ("不存在的", set()),
])
def test_title_search(crm, login, q, found):
    alice = login("alice")
    for name in ("杭州智云科技有限公司", "智云（上海）", "Zhiyun Ltd", "100% 纯净水", "另一家"):
        assert _new(alice, name=name).status_code == 302
    page = alice.get("/o/customer/", query_string={"q": q}).get_data(as_text=True)
    shown = {n for n in ("杭州智云科技有限公司", "智云（上海）", "Zhiyun Ltd", "100% 纯净水", "另一家") if n in page}
    assert shown == found


def test_title_search_follows_renames(crm, login):
    alice = login("alice")
    location = _new(alice, name="旧名字公司").headers["Location"]
    alice.post(location + "/edit", data={"name": "新名字公司", "Version": "1"})
    assert "新名字公司" in alice.get("/o/customer/", query_string={"q": "新名字"}).get_data(as_text=True)
    assert "新名字公司" not in alice.get("/o/customer/", query_string={"q": "旧名字"}).get_data(as_text=True)


def test_pooled_records_are_listed_apart_and_open_to_all(crm, login, app):
    alice = login("alice")
    bob = login("bob")
    location = _new(bob, name="公海客户").headers["Location"]
    from designer.db import transaction
    from designer.models import Record
    with app.app_context(), transaction(app) as s:
        record = s.get(Record, int(location.rsplit("/", 1)[1]))
        record.owner, record.pool = None, "public"
    assert "公海客户" not in alice.get("/o/customer/").get_data(as_text=True)
    assert "公海客户" in alice.get("/o/customer/?pool=1").get_data(as_text=True)
    assert alice.get(location).status_code == 200
