"""Security of the pages: CSRF, injection through filters and keys, headers. (XSS: test_pages; API: test_api.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"


@pytest.fixture
def crm(publish):
    return publish(BUNDLE)


def test_form_posts_need_the_csrf_token(app, crm, login):
    alice = login("alice")
    app.config["WTF_CSRF_ENABLED"] = True
    refused = alice.post("/o/customer/new", data={"name": "甲"})
    assert refused.status_code == 400 and "表单已过期" in refused.get_data(as_text=True)
    assert alice.post("/o/customer/state", json={"stage": "流失"}).status_code == 400
    page = alice.get("/o/customer/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert alice.post("/o/customer/new", data={"name": "甲", "csrf_token": token}).status_code == 302
    assert alice.post("/o/customer/state", json={"stage": "流失"}, headers={"X-CSRFToken": token}).status_code == 200


@pytest.mark.parametrize("expr", [
    "name == 'x' or 1=1 --",
    "name == 'x'); DROP TABLE records; --",
    "name == 'x\\' OR \\'1\\'=\\'1'",
    "name == \"x' OR '1'='1\"",
    "name == 'x' union select 1",
    "annual_revenue > 0 or owner == owner",
])
def test_expression_filter_cannot_inject(app, crm, login, expr):
    alice = login("alice")
    bob = login("bob")
    bob.post("/o/customer/new", data={"name": "乙的客户", "annual_revenue": "5"})
    alice.post("/o/customer/new", data={"name": "x' OR '1'='1"})
    page = alice.get("/o/customer/", query_string={"expr": expr}).get_data(as_text=True)
    assert "乙的客户" not in page  # never another rep's record
    from designer.db import transaction
    from designer.models import Record
    with app.app_context(), transaction(app) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 2  # the table is intact


@pytest.mark.parametrize("params", [
    {"c.tier') OR 1=1 --": "A"}, {"c.tier": "A' OR '1'='1"}, {"sort": "title; DROP TABLE records"},
    {"after": "not-a-cursor"}, {"after": "WyJ4IiwgIjEgT1IgMT0xIl0="}, {"q": "%' OR 1=1 --"},
])
def test_list_parameters_cannot_inject(app, crm, login, params):
    alice = login("alice")
    bob = login("bob")
    bob.post("/o/customer/new", data={"name": "乙的客户"})
    response = alice.get("/o/customer/", query_string=params)
    assert response.status_code == 200 and "乙的客户" not in response.get_data(as_text=True)


def test_field_keys_in_posts_are_not_trusted(app, crm, login):
    alice = login("alice")
    r = alice.post("/o/customer/new", data={"name": "甲", "owner": "bob", "id": "1", "computed": "{}",
                                            "tier') --": "A"})
    assert r.status_code == 302
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert "负责人 alice" in page


def test_security_headers(app, crm, login):
    alice = login("alice")
    r = alice.get("/o/customer/")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "<script>" not in r.get_data(as_text=True)  # no inline scripts: CSP holds


def test_unknown_object_and_record_are_404(app, crm, login):
    alice = login("alice")
    assert alice.get("/o/order/").status_code == 404  # a child object has no list of its own
    assert alice.get("/o/nope/").status_code == 404
    assert alice.get("/r/999999").status_code == 404


def test_pages_need_login(app, crm):
    client = app.test_client()
    r = client.get("/o/customer/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.post("/o/customer/state", json={}).status_code in (302, 401)


def test_open_redirect_after_login_is_refused(app, crm, make_user):
    password = make_user("alice")
    r = app.test_client().post("/login?next=//evil.example/x", data={"username": "alice", "password": password})
    assert r.headers["Location"].startswith("/") and "evil" not in r.headers["Location"]
