"""Dashboards: each chart's numbers against a small world counted by hand (tests/data/dashboards.yaml), on SQLite
and PostgreSQL; the scope (a manager sees the team's records, a rep their own); URL parameters that round-trip;
the CSV; and the history charts against the definition "a record's value on a date is its newest history row at
or before the end of that day", computed naively in Python."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select, text, update

DATA = Path(__file__).parent / "data"
WORLD = yaml.safe_load((DATA / "dashboards.yaml").read_text("utf-8"))
TZ = ZoneInfo("Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@pytest.fixture
def world(app, publish, make_user):
    """The world of dashboards.yaml, saved through the store at the times it names; -> {user: client}, {rN: id}."""
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.models import Record
    from designer.records.store import save

    publish(DATA / "dashboards.bundle.yaml")
    passwords = {}
    for u in WORLD["users"]:
        passwords[u["username"]] = make_user(u["username"], u["role"], manager=u.get("manager"), team=u.get("team"))
    events = [(_at(s["at"]), name, i, s) for name, r in WORLD["records"].items() for i, s in enumerate(r["saves"])]
    events += [(_at(v["at"]), v["of"], "visit", v) for v in WORLD["visits"]]
    ids: dict[str, int] = {}
    with app.app_context():
        for at, name, step, event in sorted(events, key=lambda e: e[0]):
            with transaction(app) as s:
                cur = current(s)
                owner = WORLD["records"][name]["owner"]
                if step == "visit":
                    parent = s.get(Record, ids[name])
                    save(s, cur, owner, "visit", {"visit_at": at}, parent=parent, now=at)
                elif step == 0:
                    ids[name] = save(s, cur, owner, "customer", event["values"], owner=owner, now=at).record.id
                else:
                    record = s.get(Record, ids[name])
                    save(s, cur, owner, "customer", event["values"], record=record, now=at)
        with transaction(app) as s:  # the next follow-up times as the workflows would have set them
            s.execute(update(Record).values(followup_due_at=None))
            for name, r in WORLD["records"].items():
                s.execute(update(Record).where(Record.id == ids[name]).values(followup_due_at=_at(r["due"])
                                                                             if r.get("due") else None))
    clients = {}
    for username, password in passwords.items():
        client = app.test_client()
        assert client.post("/login", data={"username": username, "password": password}).status_code == 302
        clients[username] = client
    return clients, ids


def _team_id(app, name):
    from designer.db import transaction
    from designer.models import Team
    with app.app_context(), transaction(app) as s:
        return s.scalar(select(Team.id).where(Team.name == name))


@pytest.mark.parametrize("case", WORLD["cases"], ids=[c["id"] for c in WORLD["cases"]])
def test_charts_show_the_hand_counted_numbers(app, world, frozen, case):
    clients, _ids = world
    args = dict(case["args"])
    if "team" in args:
        args["team"] = _team_id(app, args["team"])
    for key, want in case["expect"].items():
        response = clients[case["user"]].get(f"/dashboards/{key}.json", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["problems"] == {}, body["problems"]
        chart = body["chart"]
        assert chart["rows"] == want["rows"], (key, chart)
        if "columns" in want:
            assert chart["columns"][1:] == want["columns"], (key, chart["columns"])


def test_the_page_shows_every_chart_with_its_numbers_in_a_table(world, frozen):
    clients, _ids = world
    page = clients["mia"].get("/dashboards/?from=2026-02-01&to=2026-03-15").get_data(as_text=True)
    for key in ("distribution", "migration", "trend", "overdue", "activity", "funnel"):
        assert f'id="table-{key}"' in page and f'id="chart-{key}"' in page
    assert "vendor/echarts/echarts.min.js" in page
    distribution = page.split('id="table-distribution"')[1].split("</table>")[0]
    assert '<th scope="row">A</th><td>1</td>' in distribution
    assert "carol" not in page.split('id="table-overdue"')[1].split("</table>")[0]
    csv_link = '/dashboards/distribution.csv?from=2026-02-01&amp;to=2026-03-15&amp;classification=tier&amp;field=stage'
    assert csv_link in page


def test_dashboards_link_only_for_admins_and_managers(world, frozen):
    clients, _ids = world
    assert 'href="/dashboards/"' in clients["admin"].get("/dashboards/").get_data(as_text=True)
    assert 'href="/dashboards/"' in clients["mia"].get("/o/customer/").get_data(as_text=True)
    assert 'href="/dashboards/"' not in clients["alice"].get("/o/customer/").get_data(as_text=True)


def test_manager_cannot_pick_another_team(app, world, frozen):
    clients, _ids = world
    west = _team_id(app, "west")
    body = clients["mia"].get("/dashboards/distribution.json", query_string={"team": west}).get_json()
    assert set(body["problems"]) == {"team"}
    assert body["chart"]["rows"] == [["A", 1], ["B", 1], ["C", 1]]  # the manager's own scope, not west's
    assert "team" not in body["args"]
    page = clients["mia"].get("/dashboards/").get_data(as_text=True)
    assert ">east</option>" in page and ">west</option>" not in page


@pytest.mark.parametrize("args, problems", [
    ({}, set()),
    ({"from": "2026-01-01", "to": "2026-02-01", "classification": "tier", "field": "source"}, set()),
    ({"from": "yesterday", "to": "2026-03-01"}, {"from"}),
    ({"from": "2026-03-02", "to": "2026-03-01"}, {"from"}),
    ({"from": "2000-01-01", "to": "2026-03-01"}, {"from"}),
    ({"classification": "tags", "field": "name"}, {"classification", "field"}),
    ({"team": "nine"}, {"team"}),
])
def test_url_parameters_round_trip(app, world, frozen, args, problems):
    """Whatever the URL says, the answer names the filters it used; asking with those gives the same answer."""
    clients, _ids = world
    first = clients["admin"].get("/dashboards/trend.json", query_string=args).get_json()
    assert set(first["problems"]) == problems
    second = clients["admin"].get("/dashboards/trend.json", query_string=first["args"]).get_json()
    assert second["problems"] == {} and second["args"] == first["args"] and second["chart"] == first["chart"]
    if not args:
        assert first["args"] == {"from": "2025-12-16", "to": "2026-03-15", "classification": "tier", "field": "stage"}


def test_csv_holds_the_chart(world, frozen):
    clients, _ids = world
    args = {"from": "2026-02-01", "to": "2026-03-15"}
    chart = clients["admin"].get("/dashboards/migration.json", query_string=args).get_json()["chart"]
    response = clients["admin"].get("/dashboards/migration.csv", query_string=args)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "migration-2026-02-01-2026-03-15.csv" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [chart["columns"]] + [[str(c) for c in r] for r in chart["rows"]]
    assert rows[2] == ["B", "1", "1", "0"]


def test_unknown_chart_is_404(world, frozen):
    clients, _ids = world
    assert clients["admin"].get("/dashboards/pie.json").status_code == 404
    assert clients["admin"].get("/dashboards/pie.csv").status_code == 404


def _naive_values(app, on: datetime) -> dict[int, str]:
    """record id -> tier on `on`, straight from the definition: the newest history row at or before it."""
    from designer.db import transaction
    from designer.models import ClassificationChange
    with app.app_context(), transaction(app) as s:
        rows = s.scalars(select(ClassificationChange).where(ClassificationChange.key == "tier")
                         .order_by(ClassificationChange.at, ClassificationChange.id)).all()
    values = {}
    for row in rows:
        if row.at <= on:
            values[row.record_id] = row.new
    return {k: v for k, v in values.items() if v is not None}


def test_history_charts_agree_with_the_definition(app, world, frozen):
    """Counting from the current values back (what the queries do) equals reading each record's newest row."""
    from designer.dashboards import queries
    from designer.db import transaction
    _clients, _ids = world
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 80, 3)]
    instants = [datetime.combine(d, time(), TZ) for d in days]
    with app.app_context(), transaction(app) as s:
        series = queries.trend(s, "customer", "tier", None, instants)
        for at, counts in zip(instants, series):
            naive = _naive_values(app, at)
            expected = {}
            for v in naive.values():
                expected[v] = expected.get(v, 0) + 1
            assert counts == expected, at
        for first, second in zip(instants, instants[5:]):
            m = queries.migration(s, "customer", "tier", None, first, second)
            before, after = _naive_values(app, first), _naive_values(app, second)
            expected = {}
            for rid in set(before) | set(after):
                cell = (before.get(rid), after.get(rid))
                expected[cell] = expected.get(cell, 0) + 1
            assert m.cells == expected, (first, second)


@pytest.mark.parametrize("shared", [False, True], ids=["own key", "key shared with another object"])
def test_migration_pairs_each_records_first_and_last_change_in_the_window(app, world, frozen, shared):
    """A random history (one to seven changes a record, ties in time, rows inserted out of order so that the
    triggers mend neighbours on both sides of a row): the pairs the matrix is made of equal each record's first
    change's `old` and last change's `new` in the window, in (at, id) order, found here naively, for everyone and
    for one rep's records, windows bounded on a change's very instant included. `shared`: records of another
    object (the same reps') have a history of the same key, which the customers' matrix leaves out."""
    import random

    from designer.dashboards import queries
    from designer.db import transaction
    from designer.models import ClassificationChange, Record
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=TZ)
    with app.app_context(), transaction(app) as s:
        reps = sorted({r["owner"] for r in WORLD["records"].values()})
        objects = ["customer", "supplier"] if shared else ["customer"]
        s.add_all(Record(object=obj, owner=reps[i % len(reps)], title=f"历史{i}", computed={"tier": "A"},
                         explain={"tier": {"value": "A", "rules": []}}) for i in range(60) for obj in objects)
        s.flush()
        owners = dict(s.execute(select(Record.id, Record.owner).where(Record.object == "customer")).all())
        s.execute(ClassificationChange.__table__.delete())
        chains = []
        for rid in s.scalars(select(Record.id).where(Record.object.in_(objects)).order_by(Record.id)):
            value, times = None, sorted(start + timedelta(hours=rng.randint(0, 40) * 12) for _ in range(rng.randint(1, 7)))
            for at in times:
                new = rng.choice(["A", "B", "C"])
                chains.append({"record_id": rid, "key": "tier", "old": value, "new": new, "at": at, "cause": "saved"})
                value = new
        rng.shuffle(chains)
        for row in chains:
            s.add(ClassificationChange(**row))
            s.flush()
    with app.app_context(), transaction(app) as s:
        rows = [r for r in s.execute(select(ClassificationChange.id, ClassificationChange.record_id,
                                            ClassificationChange.at, ClassificationChange.old, ClassificationChange.new)
                                     .order_by(ClassificationChange.at, ClassificationChange.id)) if r.record_id in owners]
        instants = sorted({r.at for r in rows})
        windows = [(start, start + timedelta(days=20)), (instants[3], instants[-4]), (instants[10], instants[11]),
                   (start - timedelta(days=1), start + timedelta(days=90)),
                   # bounds inside an hour that has changes: its changes are read from the history itself
                   (instants[5] - timedelta(minutes=20), instants[-6] + timedelta(minutes=17)),
                   (instants[5] + timedelta(minutes=20), instants[-6] - timedelta(minutes=17))]
        rep = owners[min(owners)]
        changed = {}
        for scope in (None, [rep]):
            for first, second in windows:
                firsts, lasts, seen = {}, {}, {}
                for r in rows:
                    if first < r.at <= second and (scope is None or owners[r.record_id] in scope):
                        firsts.setdefault(r.record_id, r.old)
                        lasts[r.record_id] = r.new
                        seen[r.record_id] = seen.get(r.record_id, 0) + 1
                for n in seen.values():
                    changed[n > 1] = changed.get(n > 1, 0) + 1
                want = {}
                for rid in firsts:
                    cell = (queries.normal(firsts[rid]), queries.normal(lasts[rid]))
                    want[cell] = want.get(cell, 0) + 1
                pg = queries._on_postgresql(s)
                have = dict(queries._pairs(s, "customer", "tier", scope, first, second, shared, pg))
                assert have == want, (scope, first, second)
        assert changed[False] > 10 and changed[True] > 10  # records changed once, and more than once, in a window


def test_field_indexes_serve_the_funnel_and_the_activity_queries(app, world, frozen):
    """The indexes dashboards.indexes asks for are on the very expressions the queries use (the plan names them);
    on PostgreSQL, once the fields are copied into `record_values` (dashboards.values), its covering index
    answers both queries without reading a row."""
    from sqlalchemy import event

    from designer.bundles.workspace import current
    from designer.dashboards import indexes, queries, values
    from designer.db import engine_of, transaction
    seen = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "count(" in statement:
            seen.append((statement, parameters))
    with app.app_context(), transaction(app) as s:
        bundle = current(s).bundle
        wanted = indexes.wanted(bundle)
        assert sorted(wanted.values()) == [("customer", "stage", "funnel"), ("visit", "visit_at", "activity")]
        before = queries.counts(s, "customer", "stage", None, column="data")
        indexes.create(s, bundle)
        values.sync(s, bundle)
        dialect = s.get_bind().dialect.name
        s.execute(text("ANALYZE records" if dialect == "postgresql" else "ANALYZE"))  # statistics, as in use
        s.info.clear()  # counts are remembered for the session (a request): ask the database again
        event.listen(engine_of(app), "before_cursor_execute", keep)
        try:
            assert queries.counts(s, "customer", "stage", None, column="data") == before == \
                {"线索": 1, "商机": 1, "成交": 2, "流失": 1}
            bounds = [datetime(2026, 3, 2, tzinfo=TZ), datetime(2026, 3, 9, tzinfo=TZ), datetime(2026, 3, 16, tzinfo=TZ)]
            assert queries.activity(s, "visit", "visit_at", "datetime", None, bounds, TZ) == [1, 1]
        finally:
            event.remove(engine_of(app), "before_cursor_execute", keep)
        if dialect == "postgresql":  # a few rows: without this the planner would rather read them all
            s.execute(text("SET LOCAL enable_seqscan = off"))
            s.execute(text("SET LOCAL enable_bitmapscan = off"))
            names = ["Index Only Scan using ix_record_values_count"] * 2
        else:
            names = sorted(wanted, key=lambda n: wanted[n][0])
        assert len(seen) == 2
        for (sql, params), name in zip(seen, names):
            explain = "EXPLAIN " if dialect == "postgresql" else "EXPLAIN QUERY PLAN "
            plan = " ".join(str(r[-1]) for r in s.connection().exec_driver_sql(explain + sql, params).all())
            assert name in plan, (sql, plan)


@pytest.mark.parametrize("start, end, labels", [
    ("2026-03-01", "2026-03-03", ["2026-03-01", "2026-03-02", "2026-03-03"]),                      # days
    ("2026-03-01", "2026-04-15", ["2026-W09"] + [f"2026-W{w}" for w in range(10, 17)]),             # ISO weeks
    ("2025-11-20", "2026-02-10", ["2025-W47"] + [f"2025-W{w}" for w in range(48, 53)]
     + ["2026-W01", "2026-W02", "2026-W03", "2026-W04", "2026-W05", "2026-W06", "2026-W07"]),      # across a year
    ("2025-06-15", "2026-01-10", ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11", "2025-12",
                                  "2026-01"]),                                                      # months
])
def test_trend_points_end_each_period_and_the_range(start, end, labels):
    from designer.dashboards.filters import Filters
    f = Filters(date.fromisoformat(start), date.fromisoformat(end), None, None, "", TZ)
    points = f.points()
    assert [label for label, _at in points] == labels
    assert points[-1][1] == f.last()  # the last period ends with the range
    assert all(a[1] < b[1] for a, b in zip(points, points[1:]))
    weeks = f.weeks()
    assert weeks[0][1] == f.first() and weeks[-1] == ("", f.last())
    assert all(w[1].weekday() == 0 for w in weeks[1:-1])  # every later week starts on a Monday
