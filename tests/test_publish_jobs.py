"""Publishing from the studio as a background job (designer.bundles.publishing): the answer at once when it is
quick, else 202 and a job whose phase and count the page polls; one at a time; a failure or a stopped process
publishes nothing and says so."""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from designer.models import BundleVersion, PublishJob
from designer.bundles import publishing

DATA = Path(__file__).parent / "data"
CRM = DATA / "crm.bundle.yaml"
POOLS = DATA / "pools_bundle.yaml"


@pytest.fixture
def admin(app, login, frozen):
    return login("root", role="admin")


@pytest.fixture
def crm(publish):
    return publish(CRM)


@pytest.fixture
def held(monkeypatch):
    """The publish the job runs, stopped after it reported some progress until the test lets it go on (or fail)."""
    real = publishing.publish
    gate = {"reported": threading.Event(), "go": threading.Event(), "fail": None}

    def slow(session, *args, progress, **kwargs):
        progress("reclassify", 40, 120)
        gate["reported"].set()
        assert gate["go"].wait(30), "the test never let the publish go on"
        if gate["fail"]:
            raise gate["fail"]
        return real(session, *args, progress=progress, **kwargs)

    monkeypatch.setattr(publishing, "publish", slow)
    monkeypatch.setattr(publishing, "WAIT", 0.05)
    monkeypatch.setattr(publishing, "BEAT", 0)
    yield gate
    gate["go"].set()  # a test that failed half-way leaves no publish waiting, nor its connection open
    for thread in threading.enumerate():
        if thread.name.startswith("tierwise-publish-"):
            thread.join(60)


def _versions(app) -> int:
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        return s.scalar(select(func.count()).select_from(BundleVersion))


def _edit(admin):
    reply = admin.post("/studio/api/draft/ops", json={"ops": [
        {"op": "insert", "path": ["objects", "customer", "fields", 8],
         "value": {"key": "budget", "type": "money", "label": "预算"}}]})
    assert reply.status_code == 200 and reply.get_json()["problems"] == []


def test_a_quick_publish_answers_with_its_version_and_job(app, crm, admin, monkeypatch):
    from designer.bundles import bulk
    helpers = []  # a job's transaction has written no records: its reclassification may use helper processes
    reclassify = bulk.reclassify
    monkeypatch.setattr(bulk, "reclassify", lambda *a, **kw: helpers.append(kw["helpers"]) or reclassify(*a, **kw))
    _edit(admin)
    reply = admin.post("/studio/api/publish", json={"note": "预算"})
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["version"] == crm + 1 and body["report"]["fields_added"] == ["customer.budget"]
    job = body["job"]
    assert job["status"] == "done" and job["version"] == crm + 1 and job["by"] == "root" and job["finished"]
    assert admin.get("/studio/api/draft").get_json()["base_version"] == crm + 1
    assert admin.get("/studio/api/publish/running").get_json() == {"job": None}
    assert helpers == [bulk.HELPERS]


def test_a_long_publish_is_followed_by_polling_and_one_runs_at_a_time(app, crm, admin, held):
    _edit(admin)
    reply = admin.post("/studio/api/publish", json={"note": "慢"})
    assert reply.status_code == 202
    assert held["reported"].wait(10)
    job = admin.get(f"/studio/api/publish/{reply.get_json()['job']['id']}")
    assert job.status_code == 202
    state = job.get_json()["job"]
    assert (state["status"], state["phase"], state["done"], state["total"]) == ("running", "reclassify", 40, 120)
    assert admin.get("/studio/api/publish/running").get_json()["job"]["id"] == state["id"]
    if app.config["DATABASE_URL"].startswith("postgresql"):  # other web processes read the count from the row
        from designer.db import transaction
        with app.app_context(), transaction(app) as s:
            row = s.get(PublishJob, state["id"])
            assert (row.phase, row.done, row.total) == ("reclassify", 40, 120)

    second = admin.post("/studio/api/publish", json={"note": "again"})
    assert second.status_code == 409 and second.get_json()["job"]["id"] == state["id"]
    assert "root" in second.get_json()["error"]

    held["go"].set()
    publishing.wait(app, state["id"], timeout=60)
    done = admin.get(f"/studio/api/publish/{state['id']}")
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["version"] == crm + 1 and body["job"]["status"] == "done" and body["job"]["finished"]
    assert _versions(app) == 2


def test_a_publish_that_fails_publishes_nothing_and_says_why(app, crm, admin, held):
    _edit(admin)
    held["fail"] = RuntimeError("disk full")
    job_id = admin.post("/studio/api/publish", json={}).get_json()["job"]["id"]
    held["go"].set()
    publishing.wait(app, job_id, timeout=60)
    reply = admin.get(f"/studio/api/publish/{job_id}")
    assert reply.status_code == 500
    body = reply.get_json()
    assert "规则未作任何改动" in body["error"] and "RuntimeError: disk full" in body["error"]
    assert body["job"]["status"] == "failed" and body["job"]["finished"]
    assert _versions(app) == 1
    assert admin.get("/studio/api/draft").get_json()["base_version"] == crm  # the draft still waits to be published
    held["fail"] = None  # and may be published again
    again = admin.post("/studio/api/publish", json={}).get_json()["job"]["id"]
    publishing.wait(app, again, timeout=60)
    assert admin.get(f"/studio/api/publish/{again}").get_json()["version"] == crm + 1


def test_a_publish_whose_process_stopped_is_reported_interrupted_and_does_not_block(app, crm, admin, frozen):
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:  # as a killed process leaves it: running, its heartbeat old
        job = PublishJob(username="root", note="", source=CRM.read_text("utf-8"), status="running",
                         phase="reclassify", done=10, total=100, heartbeat_at=frozen - timedelta(hours=1))
        s.add(job)
        s.flush()
        job_id = job.id
    reply = admin.get(f"/studio/api/publish/{job_id}")
    assert reply.status_code == 500 and reply.get_json()["job"]["status"] == "interrupted"
    assert "未发布任何内容" in reply.get_json()["error"]
    assert admin.get("/studio/api/publish/running").get_json() == {"job": None}
    with app.app_context(), transaction(app) as s:
        assert s.get(PublishJob, job_id).status == "interrupted"
    _edit(admin)
    assert admin.post("/studio/api/publish", json={}).status_code == 200
    assert admin.get("/studio/api/publish/999").status_code == 404


def test_publish_reports_progress_in_two_phases_ending_on_every_record(app, publish, login, frozen):
    from designer.bundles.publish import publish as run
    from designer.db import transaction
    publish(POOLS)  # a pool: every owned customer's reclaim is planned again after a publish
    rep = login("alice")
    for i in range(7):
        assert rep.post("/o/customer/new", data={"name": f"客户{i}", "stage": "潜在"}).status_code == 302
    seen = []
    with app.app_context(), transaction(app) as s:
        run(s, POOLS.read_text("utf-8").replace("> 30", "> 20"), POOLS.name, actor="admin", now=frozen,
            progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert [p for p, _, _ in seen] == sorted((p for p, _, _ in seen), key=["reclassify", "plan"].index)
    assert seen[-1] == ("plan", 7, 7)
    assert [x for x in seen if x[0] == "reclassify"][-1] == ("reclassify", 7, 7)


# -- the REST API's publish -------------------------------------------------------------------------------------


@pytest.fixture
def api_admin(app, make_user, frozen):
    from .test_api import Api
    from designer.auth.users import issue_token
    from designer.db import transaction
    from designer.models import User
    make_user("ops", "admin")
    with app.app_context(), transaction(app) as s:
        token = issue_token(s, s.scalar(select(User).where(User.username == "ops")), "deploy script")
    return Api(app.test_client(), token)


def test_the_api_publishes_in_the_background_when_it_takes_long(app, crm, api_admin, held):
    changed = CRM.read_text("utf-8") + "\n# 慢\n"
    started = api_admin.post("/bundle?note=deploy", raw=changed.encode(), content_type="application/yaml")
    assert started.status_code == 202, started.body
    job = started.body["job"]
    assert started.headers["Location"].endswith(f"/api/v1/bundle/publishes/{job['id']}")
    assert held["reported"].wait(10)
    polled = api_admin.get(f"/bundle/publishes/{job['id']}")
    assert polled.status_code == 200 and "version" not in polled.body
    assert (polled.body["job"]["status"], polled.body["job"]["phase"], polled.body["job"]["done"],
            polled.body["job"]["total"]) == ("running", "reclassify", 40, 120)
    second = api_admin.post("/bundle", raw=changed.encode(), content_type="application/yaml")
    assert second.status_code == 409 and second.body["error"]["code"] == "publish_running"
    assert second.headers["Location"] == started.headers["Location"]

    held["go"].set()
    publishing.wait(app, job["id"], timeout=60)
    done = api_admin.get(f"/bundle/publishes/{job['id']}")
    assert done.status_code == 200 and done.body["version"] == crm + 1 and done.body["job"]["status"] == "done"
    assert "reclassified" in done.body["report"]
    assert api_admin.get("/bundle").body["version"] == crm + 1


def test_the_api_says_when_a_background_publish_failed(app, crm, api_admin, held):
    held["fail"] = RuntimeError("disk full")
    started = api_admin.post("/bundle", raw=CRM.read_bytes(), content_type="application/yaml")
    assert started.status_code == 202
    held["go"].set()
    publishing.wait(app, started.body["job"]["id"], timeout=60)
    failed = api_admin.get(f"/bundle/publishes/{started.body['job']['id']}")
    assert failed.status_code == 500 and failed.body["error"]["code"] == "publish_failed"
    assert "RuntimeError: disk full" in failed.body["error"]["message"]
    assert _versions(app) == 1
    assert api_admin.get("/bundle/publishes/999").status_code == 404


def test_a_quick_api_publish_answers_with_its_version_and_problems_at_once(app, crm, api_admin):
    quick = api_admin.post("/bundle", raw=CRM.read_bytes(), content_type="application/yaml")
    assert quick.status_code == 201 and quick.body["version"] == crm + 1 and quick.body["job"]["status"] == "done"
    bad = api_admin.post("/bundle", raw=b"objects: [", content_type="application/yaml")
    assert bad.status_code == 422 and bad.body["error"]["problems"][0]["line"] >= 1
    assert _versions(app) == 2


def test_the_api_says_how_far_the_workers_planning_is(app, api_admin, publish, frozen, monkeypatch):
    from designer.workflows import replan, schedule

    from .test_replan import CHANGED, SOURCE, _load_template, _run_links
    publish(SOURCE)
    _load_template(app, "manufacturing")
    assert api_admin.get("/bundle").body["planning"] is None  # the publish planned every record itself
    monkeypatch.setattr(schedule, "INLINE", 0)
    monkeypatch.setattr(replan, "STRIPES", {"sqlite": 1, "postgresql": 1})
    published = api_admin.post("/bundle", raw=CHANGED.encode(), content_type="application/yaml")
    assert published.status_code == 201
    total = published.body["planning"]["total"]
    assert published.body["planning"] == {"done": 0, "total": total, "finished": False, "failing": None}
    _run_links(app, frozen)
    assert api_admin.get("/bundle").body["planning"] == {"done": total, "total": total, "finished": True,
                                                         "failing": None}
