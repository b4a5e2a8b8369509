"""Error pages say what happened and what to do, in the user's language; the API keeps answering JSON."""
from __future__ import annotations

from pathlib import Path

import pytest

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"

#: (who, method, path, status, Chinese words on the page, English words after switching)
CASES = [
    ("rep", "get", "/no/such/page", 404, "此页面不存在", "This page does not exist"),
    ("rep", "get", "/o/customer/999999", 404, "此页面不存在", "This page does not exist"),
    ("rep", "get", "/studio/", 403, "您没有权限访问此页面", "You do not have access"),
    ("rep", "post", "/o/customer/", 405, "此地址不能这样打开", "cannot be opened this way"),
]


@pytest.mark.parametrize("who, method, path, status, zh, en", CASES)
def test_an_error_page_says_what_to_do(app, publish, login, who, method, path, status, zh, en):
    publish(BUNDLE)
    client = login("alice", who)
    page = getattr(client, method)(path)
    body = page.get_data(as_text=True)
    assert page.status_code == status and zh in body
    assert "Not Found" not in body and 'href="/"' in body  # the layout, with its way home
    client.post("/lang/en")
    assert en in getattr(client, method)(path).get_data(as_text=True)


def test_a_view_s_own_message_is_kept(app, login):
    page = login("alice").get("/o/customer/")  # no bundle published yet: the view says who can fix it
    assert page.status_code == 503 and "tierwise publish" in page.get_data(as_text=True)


def test_back_goes_to_the_page_the_user_came_from_on_this_site_only(app, publish, login):
    publish(BUNDLE)
    client = login("alice")
    came = client.get("/no/such/page", headers={"Referer": "http://localhost/o/customer/"}).get_data(as_text=True)
    assert 'href="http://localhost/o/customer/"' in came
    away = client.get("/no/such/page", headers={"Referer": "https://evil.example/"}).get_data(as_text=True)
    assert "evil.example" not in away


def test_an_unexpected_failure_gets_a_page_and_the_api_keeps_json(app, publish, login):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the failure is answered, not raised

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    publish(BUNDLE)
    client = login("alice")
    page = client.get("/boom")
    assert page.status_code == 500 and "没有保存" in page.get_data(as_text=True)
    api = client.get("/api/v1/no/such/thing")
    assert api.status_code == 404 and api.is_json
