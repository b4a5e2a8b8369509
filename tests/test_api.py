"""The REST API under /api/v1, as a client uses it: tokens, records with children, errors, concurrency, scope."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import codecs

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"


class Api:
    """A test client speaking JSON with exact decimals, authenticated by a bearer token (or a session)."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def call(self, method: str, path: str, body=None, *, raw: str | bytes | None = None, headers: dict | None = None,
             content_type: str = "application/json"):
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        data = raw if raw is not None else (codecs.dumps(body) if body is not None else None)
        response = self.client.open("/api/v1" + path, method=method, data=data, headers=sent,
                                    content_type=content_type)
        text = response.get_data(as_text=True)
        response.body = codecs.loads(text) if text and response.mimetype == "application/json" else None
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.call("DELETE", path, body, **kw)


@pytest.fixture
def crm(publish):
    return publish(BUNDLE)


@pytest.fixture
def api(app, make_user):
    """api(username, role='rep', manager=None, team=None) -> an Api client with a fresh token of a new user."""
    from designer.auth.users import issue_token
    from designer.db import transaction
    from designer.models import User

    def api(username, role="rep", **kw):
        make_user(username, role, **kw)
        with app.app_context(), transaction(app) as s:
            token = issue_token(s, s.scalar(select(User).where(User.username == username)), "tests")
        return Api(app.test_client(), token)
    return api


def count_records(app) -> int:
    from designer.db import transaction
    from designer.models import Record
    with app.app_context(), transaction(app) as s:
        return s.scalar(select(func.count()).select_from(Record))


def create(client: Api, **values):
    response = client.post("/o/customer/records", values)
    assert response.status_code == 201, response.body
    return response.body


# -- authentication -------------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/objects"), ("GET", "/o/customer/records"), ("POST", "/o/customer/records"), ("GET", "/records/1"),
    ("PATCH", "/records/1"), ("DELETE", "/records/1"), ("POST", "/records/1/order"), ("GET", "/records/1/history"),
    ("GET", "/bundle"), ("POST", "/bundle"), ("GET", "/openapi.json"), ("GET", "/no/such/endpoint"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
@pytest.mark.parametrize("token", [None, "tw_not-a-token"], ids=["no token", "wrong token"])
def test_unauthenticated_calls_get_401_json(crm, app, method, path, token):
    response = Api(app.test_client(), token).call(method, path, {"name": "x"})
    assert response.status_code == 401
    assert response.body["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_reads_objects_and_unknown_endpoints_are_json_404(crm, api):
    alice = api("alice")
    response = alice.get("/objects")
    assert response.status_code == 200
    objects = {o["key"]: o for o in response.body["objects"]}
    assert objects["customer"]["children"] == ["order"] and objects["order"]["parent"] == "customer"
    fields = {f["key"]: f for f in objects["customer"]["fields"]}
    assert fields["stage"]["options"][0] == {"value": "潜在", "label": "潜在"}
    assert fields["spend"]["read_only"] and fields["code"]["read_only"] and not fields["name"]["read_only"]
    tier = objects["customer"]["classifications"][0]
    assert tier["key"] == "tier" and tier["values"] == ["A", "B", "C"] and tier["rules"][0]["value"] == "A"
    missing = alice.get("/no/such/endpoint")
    assert missing.status_code == 404 and missing.body["error"]["code"] == "not_found"
    assert alice.get("/o/order/records").status_code == 404  # children are reached through their parent


def test_no_bundle_yet_is_503_json(app, api):
    response = api("alice").get("/objects")
    assert response.status_code == 503 and response.body["error"]["code"] == "no_bundle"


# -- records --------------------------------------------------------------------------------------------------------


def test_create_with_children_then_read_back_with_classifications_and_why(crm, api):
    alice = api("alice")
    response = alice.post("/o/customer/records", {
        "name": "华东精密机械有限公司", "phone": "+86 138-1234-5678", "stage": "成交",
        "annual_revenue": Decimal("1234567.89"),
        "order": [{"date": "2026-03-01", "amount": "300000"}, {"date": "2026-03-02", "amount": 250000.5}],
    })
    assert response.status_code == 201, response.body
    assert "1234567.89" in response.get_data(as_text=True)  # money exact, never through float
    record = response.body
    assert response.headers["Location"].endswith(f"/api/v1/records/{record['id']}")
    assert response.headers["ETag"] == f'"{record["version"]}"'
    assert record["owner"] == "alice" and record["pool"] is None and record["title"] == "华东精密机械有限公司"
    values = record["values"]
    assert values["phone"] == "13812345678" and values["code"] == "KH-2026-0001"
    assert values["annual_revenue"] == Decimal("1234567.89") and values["spend"] == Decimal("550000.5")
    assert record["classifications"] == {"tier": "A", "tags": ["复购"], "score": 65}
    assert record["explain"]["tier"]["rules"][0]["index"] == 0
    assert "年采购百万以上" in record["explain"]["tier"]["text"]
    orders = record["children"]["order"]
    assert [o["values"] for o in orders] == [{"date": "2026-03-01", "amount": 300000},
                                             {"date": "2026-03-02", "amount": Decimal("250000.5")}]
    assert all(o["version"] == 1 and o["parent_id"] == record["id"] for o in orders)

    again = alice.get(f"/records/{record['id']}")
    assert again.status_code == 200 and again.body == record
    assert again.headers["Cache-Control"] == "no-store"


def test_add_change_and_delete_children_recompute_the_parent(crm, api):
    alice = api("alice")
    record = create(alice, name="己公司")
    assert record["classifications"]["tier"] == "C" and record["children"] == {"order": []}
    added = alice.post(f"/records/{record['id']}/order", {"date": "2026-03-01", "amount": 600000})
    assert added.status_code == 201, added.body
    order = added.body
    assert order["object"] == "order" and order["values"]["amount"] == 600000
    parent = alice.get(f"/records/{record['id']}").body
    assert parent["classifications"]["tier"] == "A" and parent["values"]["spend"] == 600000
    assert added.body["parent"]["version"] == parent["version"]

    changed = alice.patch(f"/records/{order['id']}", {"amount": 100, "_version": order["version"]})
    assert changed.status_code == 200, changed.body
    assert changed.body["values"]["amount"] == 100 and changed.body["version"] == order["version"] + 1
    assert alice.get(f"/records/{record['id']}").body["classifications"]["tier"] == "C"

    gone = alice.delete(f"/records/{order['id']}", headers={"If-Match": f'"{changed.body["version"]}"'})
    assert gone.status_code == 204 and gone.get_data() == b""
    assert alice.get(f"/records/{order['id']}").status_code == 404
    assert alice.get(f"/records/{record['id']}").body["children"] == {"order": []}

    wrong = alice.post(f"/records/{record['id']}/visit", {"date": "2026-03-01"})
    assert wrong.status_code == 404 and "order" in wrong.body["error"]["message"]


INVALID = [
    ("top-level and child values",
     {"stage": "已签约", "annual_revenue": "abc", "region": "/",
      "order": [{"date": "soon", "amount": 5}, {"date": "2026-03-01", "amount": -1}, {"amount": 1}]},
     {"name", "stage", "annual_revenue", "region", "order[0].date", "order[1].amount", "order[2].date"}),
    ("unknown keys at both levels, with the other problems",
     {"revenu": 5, "annual_revenue": -3, "order": [{"date": "2026-03-01", "amount": 1, "colour": "red"}]},
     {"revenu", "name", "annual_revenue", "order[0].colour"}),
    ("computed and assigned fields are not typed in",
     {"name": "甲", "spend": 5, "code": "KH-1"}, {"spend", "code"}),
    ("required_if on a visible field", {"name": "乙", "stage": "流失"}, {"lost_reason"}),
    ("children that are not a list of records", {"name": "丙", "order": [5, {"date": "2026-03-01", "amount": 1}]},
     {"order[0]"}),
    ("children that are not a list", {"name": "丁", "order": "two"}, {"order"}),
]


@pytest.mark.parametrize("body,paths", [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_values_list_every_problem_at_once_and_write_nothing(crm, api, app, body, paths):
    alice = api("alice")
    response = alice.post("/o/customer/records", body)
    assert response.status_code == 422, response.body
    error = response.body["error"]
    assert error["code"] == "invalid"
    assert {p["path"] for p in error["fields"]} == paths
    assert all(p["message"] for p in error["fields"])
    assert count_records(app) == 0


def test_unknown_key_suggests_the_field(crm, api):
    response = api("alice").post("/o/customer/records", {"name": "甲", "anual_revenue": 1})
    problem = response.body["error"]["fields"][0]
    assert problem["path"] == "anual_revenue" and problem["detail"] == {"did_you_mean": "annual_revenue"}


@pytest.mark.parametrize("raw,message", [
    ('{"name": "甲",', "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"name"', "JSON object"),
    ("", "JSON object"),
    ('{"annual_revenue": NaN}', "not valid JSON"),
], ids=["truncated", "a list", "a string", "empty", "NaN"])
def test_malformed_bodies_are_400_with_a_message(crm, api, app, raw, message):
    response = api("alice").post("/o/customer/records", raw=raw)
    assert response.status_code == 400 and message in response.body["error"]["message"]
    assert count_records(app) == 0


def test_duplicates_block_warn_and_confirm(crm, api):
    alice, bob = api("alice"), api("bob")
    create(alice, name="杭州智云科技有限公司", phone="13800000001")
    blocked = bob.post("/o/customer/records", {"name": "智云科技（杭州）有限公司"})
    assert blocked.status_code == 422
    detail = blocked.body["error"]["fields"][0]["detail"]
    assert detail["owner"] == "alice" and detail["title"] == "杭州智云科技有限公司" and detail["pool"] is None
    warned = bob.post("/o/customer/records", {"name": "另一家公司", "phone": "+86 138-0000-0001"})
    assert warned.status_code == 409 and warned.body["error"]["code"] == "duplicate"
    assert warned.body["error"]["fields"][0]["path"] == "phone"
    confirmed = bob.post("/o/customer/records?allow_duplicates=1", {"name": "另一家公司", "phone": "13800000001"})
    assert confirmed.status_code == 201 and confirmed.body["warnings"][0]["path"] == "phone"


# -- concurrency ----------------------------------------------------------------------------------------------------


def test_update_without_a_version_is_428(crm, api, app):
    alice = api("alice")
    record = create(alice, name="戊公司")
    for call in (alice.patch(f"/records/{record['id']}", {"annual_revenue": 5}),
                 alice.delete(f"/records/{record['id']}")):
        assert call.status_code == 428
        assert call.body["error"]["code"] == "version_required" and "If-Match" in call.body["error"]["message"]
    assert alice.get(f"/records/{record['id']}").body["version"] == record["version"]


@pytest.mark.parametrize("how", ["If-Match", "_version"])
def test_stale_update_is_409_and_the_first_write_stands(crm, api, how):
    alice = api("alice")
    record = create(alice, name="戊公司", annual_revenue=10)
    path, read = f"/records/{record['id']}", record["version"]

    def change(amount):
        if how == "If-Match":
            return alice.patch(path, {"annual_revenue": amount}, headers={"If-Match": f'"{read}"'})
        return alice.patch(path, {"annual_revenue": amount, "_version": read})

    first = change(200000)
    assert first.status_code == 200 and first.body["classifications"]["tier"] == "B"
    stale = change(5)
    assert stale.status_code == 409 and stale.body["error"]["code"] == "stale"
    assert stale.body["record"]["values"]["annual_revenue"] == 200000
    assert stale.body["record"]["version"] == first.body["version"]
    assert stale.headers["ETag"] == f'"{first.body["version"]}"'
    now = alice.get(path).body
    assert now["values"]["annual_revenue"] == 200000 and now["version"] == first.body["version"]
    assert alice.delete(path, headers={"If-Match": f'"{read}"'}).status_code == 409
    assert alice.get(path).status_code == 200


def test_a_write_racing_ours_after_the_version_check_still_wins(crm, api, app, monkeypatch):
    """Another writer commits between our version check and our write: the database's version check catches it."""
    from designer.api import views
    from designer.db import transaction
    from designer.models import Record
    alice = api("alice")
    record = create(alice, name="癸公司", annual_revenue=10)
    real_save = views.save

    def racing_save(*args, **kw):
        with transaction(app) as s:  # the other writer
            row = s.get(Record, record["id"])
            row.data = {**row.data, "annual_revenue": 777}
        return real_save(*args, **kw)

    monkeypatch.setattr(views, "save", racing_save)
    response = alice.patch(f"/records/{record['id']}", {"annual_revenue": 5, "_version": record["version"]})
    assert response.status_code == 409 and response.body["error"]["code"] == "stale"
    assert response.body["record"]["values"]["annual_revenue"] == 777
    monkeypatch.setattr(views, "save", real_save)
    assert alice.get(f"/records/{record['id']}").body["values"]["annual_revenue"] == 777


def test_bad_versions_are_400(crm, api):
    alice = api("alice")
    record = create(alice, name="戊公司")
    path = f"/records/{record['id']}"
    assert alice.patch(path, {"_version": "two"}).status_code == 400
    assert alice.patch(path, {}, headers={"If-Match": "*"}).status_code == 400
    mixed = alice.patch(path, {"_version": 1}, headers={"If-Match": '"2"'})
    assert mixed.status_code == 400 and "disagree" in mixed.body["error"]["message"]
    ok = alice.patch(path, {"stage": "成交"}, headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.body["values"]["stage"] == "成交" and ok.body["values"]["name"] == "戊公司"


def test_a_record_sent_back_whole_goes_through(crm, api):
    alice = api("alice")
    record = create(alice, name="戊公司", order=[{"date": "2026-03-01", "amount": 3}])
    values = dict(record["values"], stage="潜在")  # includes the formula and the autonumber, unchanged
    response = alice.patch(f"/records/{record['id']}", {**values, "_version": record["version"]})
    assert response.status_code == 200, response.body
    changed = alice.patch(f"/records/{record['id']}", {"code": "KH-9", "_version": response.body["version"]})
    assert changed.status_code == 422 and changed.body["error"]["fields"][0]["path"] == "code"


# -- scope and roles ------------------------------------------------------------------------------------------------

OTHER_REP_CALLS = [
    ("GET", "{}"), ("PATCH", "{}"), ("DELETE", "{}"), ("POST", "{}/order"), ("GET", "{}/history"),
]


@pytest.mark.parametrize("method,template", OTHER_REP_CALLS, ids=[f"{m} {t}" for m, t in OTHER_REP_CALLS])
def test_another_reps_record_is_404_like_a_missing_one(crm, api, app, method, template):
    alice, bob = api("alice"), api("bob")
    record = create(alice, name="丙公司", order=[{"date": "2026-03-01", "amount": 1}])
    order_id = record["children"]["order"][0]["id"]
    body = {"date": "2026-03-02", "amount": 2, "name": "改名", "_version": 1}
    theirs = bob.call(method, "/records/" + template.format(record["id"]), body)
    their_child = bob.call(method, "/records/" + template.format(order_id), body)
    missing = bob.call(method, "/records/" + template.format(987654), body)
    assert theirs.status_code == their_child.status_code == missing.status_code == 404
    assert theirs.body["error"]["code"] == missing.body["error"]["code"] == "not_found"
    assert alice.get(f"/records/{record['id']}").body == record  # nothing changed
    listed = bob.get("/o/customer/records").body["records"]
    assert listed == []


def test_managers_see_their_team_and_admins_everything(crm, api, make_user):
    boss = api("boss", role="manager", team="east")
    alice = api("alice", team="east")
    carol = api("carol", manager="boss")
    dave = api("dave", team="west")
    other_boss = api("boss2", role="manager", team="west")
    admin = api("root", role="admin")
    ids = {name: create(client, name=f"{name}的公司")["id"] for name, client in
           (("alice", alice), ("carol", carol), ("dave", dave))}
    assert {r["id"] for r in boss.get("/o/customer/records").body["records"]} == {ids["alice"], ids["carol"]}
    assert boss.get(f"/records/{ids['dave']}").status_code == 404
    assert {r["id"] for r in other_boss.get("/o/customer/records").body["records"]} == {ids["dave"]}
    assert len(admin.get("/o/customer/records").body["records"]) == 3


def test_owner_is_chosen_by_admins_and_managers_only(crm, api, app):
    boss = api("boss", role="manager", team="east")
    alice = api("alice", team="east")
    api("dave", team="west")
    admin = api("root", role="admin")
    assert create(alice, name="自己的")["owner"] == "alice"
    assert create(alice, name="也是自己的", owner="alice")["owner"] == "alice"
    refused = alice.post("/o/customer/records", {"name": "给别人", "owner": "dave"})
    assert refused.status_code == 403 and refused.body["error"]["code"] == "forbidden"
    assert create(boss, name="给组员", owner="alice")["owner"] == "alice"
    assert boss.post("/o/customer/records", {"name": "给外组", "owner": "dave"}).status_code == 403
    unknown = admin.post("/o/customer/records", {"name": "没人", "owner": "nobody", "stage": "x"})
    assert unknown.status_code == 422
    assert {p["path"] for p in unknown.body["error"]["fields"]} == {"owner", "stage"}
    record = create(admin, name="给戴夫", owner="dave")
    assert record["owner"] == "dave"
    moved = admin.patch(f"/records/{record['id']}", {"owner": "alice", "_version": record["version"]})
    assert moved.status_code == 200 and moved.body["owner"] == "alice"
    assert alice.get(f"/records/{record['id']}").status_code == 200
    history = alice.get(f"/records/{record['id']}/history").body
    assert {"owner": ["dave", "alice"]} in [a["changes"] for a in history["audit"]]
    grab = alice.patch(f"/records/{record['id']}", {"owner": "boss", "_version": moved.body["version"]})
    assert grab.status_code == 403
    assert alice.get(f"/records/{record['id']}").body["owner"] == "alice"


def test_a_pooled_record_is_seen_but_not_taken_or_deleted_by_a_rep(crm, api, app):
    from designer.db import transaction
    from designer.models import Record
    alice, bob = api("alice"), api("bob")
    record = create(alice, name="公海客户")
    with app.app_context(), transaction(app) as s:
        row = s.get(Record, record["id"])
        row.owner, row.pool = None, "public"
    pooled = bob.get(f"/records/{record['id']}").body
    assert pooled["owner"] is None and pooled["pool"] == "public"
    version = {"If-Match": f'"{pooled["version"]}"'}
    assert bob.patch(f"/records/{record['id']}", {"owner": "bob"}, headers=version).status_code == 403
    assert bob.delete(f"/records/{record['id']}", headers=version).status_code == 403
    assert bob.get(f"/records/{record['id']}").body == pooled


def test_reps_delete_only_their_own(crm, api, make_user):
    boss = api("boss", role="manager")
    alice = api("alice", manager="boss")
    record = create(boss, name="经理给的", owner="alice")
    mine = create(alice, name="自己的")
    assert alice.delete(f"/records/{mine['id']}", headers={"If-Match": '"1"'}).status_code == 204
    assert boss.delete(f"/records/{record['id']}", headers={"If-Match": f'"{record["version"]}"'}).status_code == 204
    assert alice.get(f"/records/{record['id']}").status_code == 404


def test_history_lists_classification_changes_and_audit(crm, api):
    alice = api("alice")
    record = create(alice, name="庚公司", annual_revenue=10)
    alice.patch(f"/records/{record['id']}", {"annual_revenue": 2000000, "_version": record["version"]})
    history = alice.get(f"/records/{record['id']}/history")
    assert history.status_code == 200
    tiers = [(c["old"], c["new"], c["cause"]) for c in history.body["classifications"] if c["key"] == "tier"]
    assert tiers == [("C", "A", "saved"), (None, "C", "saved")]
    assert [a["action"] for a in history.body["audit"]] == ["update", "create"]
    assert history.body["audit"][0]["changes"]["annual_revenue"] == [10, 2000000]


# -- lists ----------------------------------------------------------------------------------------------------------


def test_list_filters_search_expression_and_cursor_pages(crm, api):
    alice = api("alice")
    for i in range(7):
        create(alice, name=f"客户{i:02d}", annual_revenue=i * 300000)
    names = lambda response: [r["title"] for r in response.body["records"]]  # noqa: E731
    assert set(names(alice.get("/o/customer/records?c.tier=A"))) == {"客户04", "客户05", "客户06"}
    assert names(alice.get("/o/customer/records?q=户03")) == ["客户03"]
    between = alice.get("/o/customer/records?sort=title&expr=annual_revenue+%3E%3D+600000+and+annual_revenue+%3C+1200000")
    assert names(between) == ["客户02", "客户03"]
    seen, cursor = [], None
    while True:
        page = alice.get("/o/customer/records?sort=title&limit=3" + (f"&after={cursor}" if cursor else ""))
        assert page.status_code == 200 and len(page.body["records"]) <= 3
        seen += names(page)
        cursor = page.body["next"]
        if cursor is None:
            break
    assert seen == [f"客户{i:02d}" for i in range(7)]
    record = alice.get("/o/customer/records?limit=1").body["records"][0]
    assert record["classifications"] and record["explain"]["tier"]["text"] and "children" not in record


@pytest.mark.parametrize("query,code", [
    ("limit=0", "bad_request"), ("limit=201", "bad_request"), ("limit=ten", "bad_request"),
    ("sort=owner", "bad_request"), ("after=bm90IGEgY3Vyc29y", "bad_request"), ("after=%22%5B%22x%22%2C1%5D", "bad_request"),
    ("c.teir=A", "bad_request"), ("c.score=ten", "bad_request"), ("expr=revenu+%3E+1", "invalid_filter"), ("expr=annual_revenue", "invalid_filter"),
])
def test_bad_list_parameters_are_400(crm, api, query, code):
    response = api("alice").get(f"/o/customer/records?{query}")
    assert response.status_code == 400 and response.body["error"]["code"] == code
    if query.startswith("expr=revenu"):
        assert "annual_revenue" in response.body["error"]["message"] and response.body["error"]["column"] == 1


# -- injection ------------------------------------------------------------------------------------------------------

INJECTIONS = [
    ("expr", "name == 'x' or 1=1 --"),
    ("expr", "name == 'x'); DROP TABLE records; --"),
    ("expr", "name == \"x' OR '1'='1\""),
    ("expr", "contains(name, \"'); DELETE FROM records; --\")"),
    ("c.tier", "A' OR 1=1 --"),
    ("c.tier') OR 1=1 --", "A"),
    ("c.score", "1 OR 1=1"),
    ("q", "%' OR 1=1 --"),
    ("sort", "title; DROP TABLE records"),
    ("after", "WyJ4JyBPUiAxPTEgLS0iLCAxXQ=="),
]


@pytest.mark.parametrize("name,value", INJECTIONS, ids=[f"{n}={v}" for n, v in INJECTIONS])
def test_sql_injection_through_list_parameters_is_harmless(crm, api, app, name, value):
    from urllib.parse import urlencode
    alice, bob = api("alice"), api("bob")
    create(alice, name="甲公司", annual_revenue=2000000)
    create(bob, name="乙公司")
    before = count_records(app)
    response = bob.get("/o/customer/records?" + urlencode({name: value}))
    assert response.status_code in (200, 400), response.body
    if response.status_code == 200:
        assert [r["title"] for r in response.body["records"]] in ([], ["乙公司"])  # nothing of alice's leaks
    assert count_records(app) == before
    assert [r["title"] for r in bob.get("/o/customer/records").body["records"]] == ["乙公司"]


@pytest.mark.parametrize("key", ["tier') OR 1=1 --", "name\"; DROP TABLE records; --", "data->>'x'", "__proto__"])
def test_sql_injection_through_body_keys_is_rejected(crm, api, app, key):
    alice = api("alice")
    record = create(alice, name="甲公司")
    created = alice.post("/o/customer/records", {"name": "乙公司", key: "1"})
    assert created.status_code == 422 and [p["path"] for p in created.body["error"]["fields"]] == [key]
    patched = alice.patch(f"/records/{record['id']}", {key: "1", "_version": record["version"]})
    assert patched.status_code == 422
    child = alice.post(f"/records/{record['id']}/order", {"date": "2026-03-01", "amount": 1, key: 1})
    assert child.status_code == 422
    assert count_records(app) == 1
    assert alice.get(f"/records/{record['id']}").body == record


# -- sessions and CSRF ----------------------------------------------------------------------------------------------


def test_session_calls_need_the_csrf_token_and_token_calls_do_not(crm, app, login, api):
    session = Api(login("alice"), None)
    app.config["WTF_CSRF_ENABLED"] = True
    assert session.get("/objects").status_code == 200
    refused = session.post("/o/customer/records", {"name": "甲公司"})
    assert refused.status_code == 400 and refused.body["error"]["code"] == "csrf"
    page = session.client.get("/o/customer/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = session.post("/o/customer/records", {"name": "甲公司"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 201
    assert session.patch(f"/records/{accepted.body['id']}", {"stage": "成交", "_version": 1}).status_code == 400
    assert api("bob").post("/o/customer/records", {"name": "乙公司"}).status_code == 201
    assert count_records(app) == 2


# -- publishing -----------------------------------------------------------------------------------------------------


def test_admin_publishes_through_the_api_and_records_are_reclassified(crm, api):
    admin, alice = api("root", role="admin"), api("alice")
    record = create(alice, name="辛公司", annual_revenue=150000)
    assert record["classifications"]["tier"] == "B"
    source = BUNDLE.read_text("utf-8").replace("annual_revenue >= 100000", "annual_revenue >= 200000")
    published = admin.post("/bundle?note=raise+B", raw=source.encode(), content_type="application/yaml")
    assert published.status_code == 201, published.body
    assert published.body["version"] == crm + 1 and published.body["report"]["reclassified"] == 1
    after = alice.get(f"/records/{record['id']}").body
    assert after["classifications"]["tier"] == "C" and after["bundle_version"] == crm + 1
    causes = [c["cause"] for c in alice.get(f"/records/{record['id']}/history").body["classifications"]]
    assert causes[0] == "rules published"
    current = admin.get("/bundle").body
    assert current["version"] == crm + 1 and current["note"] == "raise B" and current["source"] == source


def test_invalid_bundle_is_422_with_located_problems_and_nothing_published(crm, api):
    admin = api("root", role="admin")
    source = BUNDLE.read_text("utf-8").replace("min: 0}", "min: abc}").replace("spend >= 500000", "spnd >= 500000")
    response = admin.post("/bundle", raw=source, content_type="text/plain")
    assert response.status_code == 422 and response.body["error"]["code"] == "invalid_bundle"
    problems = response.body["error"]["problems"]
    assert len(problems) >= 2
    assert all(set(p) >= {"file", "line", "col", "path", "message", "kind"} and p["line"] > 0 for p in problems)
    assert any("spend" in p["message"] and p["kind"] == "name" for p in problems)
    assert admin.get("/bundle").body["version"] == crm


@pytest.mark.parametrize("role,content_type,status", [
    ("rep", "application/yaml", 403), ("manager", "application/yaml", 403), ("admin", "text/html", 415),
])
def test_only_admins_publish_and_only_bundle_text(crm, api, role, content_type, status):
    client = api("someone", role=role)
    response = client.post("/bundle", raw=BUNDLE.read_text("utf-8"), content_type=content_type)
    assert response.status_code == status
    assert client.get("/bundle").status_code == (403 if role == "rep" else 200)


def test_json_bundle_publishes(crm, api):
    import json

    import yaml
    doc = yaml.safe_load(BUNDLE.read_text("utf-8"))
    response = api("root", role="admin").post("/bundle", raw=json.dumps(doc, ensure_ascii=False))
    assert response.status_code == 201, response.body


# -- the OpenAPI document -------------------------------------------------------------------------------------------


def test_openapi_document_validates_and_describes_the_bundle(crm, api):
    from jsonschema import Draft202012Validator
    from openapi_spec_validator import validate
    alice = api("alice")
    response = alice.get("/openapi.json")
    assert response.status_code == 200
    doc = codecs.loads(response.get_data(as_text=True))
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    values = schemas["customer.Values"]["properties"]
    assert values["annual_revenue"]["type"] == ["number", "null"] and values["annual_revenue"]["minimum"] == 0
    assert values["stage"]["enum"] == ["潜在", "成交", "流失", None]
    assert values["spend"]["readOnly"] is True
    assert schemas["order.Values"]["properties"]["date"] == {"type": ["string", "null"], "format": "date",
                                                             "title": "日期"}
    assert schemas["customer.Input"]["required"] == ["name"]
    assert {"/o/customer/records", "/records/{record_id}", "/records/{record_id}/order", "/bundle"} <= set(doc["paths"])
    # a real response fits its schema
    record = create(alice, name="壬公司", annual_revenue=5, order=[{"date": "2026-03-01", "amount": 1}])
    root = {"components": doc["components"], "$ref": "#/components/schemas/customer.Record"}
    Draft202012Validator(root).validate(codecs.to_json(record))
    listed = alice.get("/o/customer/records").body
    page_schema = doc["paths"]["/o/customer/records"]["get"]["responses"]["200"]["content"]["application/json"]
    Draft202012Validator({"components": doc["components"], **page_schema["schema"]}).validate(codecs.to_json(listed))
