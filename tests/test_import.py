"""Importing CSV and XLSX files: mapping by Chinese headings, row errors by row and column, duplicates,
all-or-nothing and partial modes, a killed import resumed without duplicates, child rows, the command line."""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from designer.cli import main

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"
HEADINGS = ["客户名称", "手机号", "阶段", "年采购额", "地区", "备注"]
#: data rows (0-based) that are bad, and what is wrong with each: (column, cell value)
BAD = {10: ("年采购额", "很多"), 250: ("阶段", "未知"), 499: ("手机号", "12345"), 777: ("客户名称", None),
       990: ("年采购额", -5)}


def customers(n: int = 1000, bad: dict = BAD) -> list[list]:
    rows = []
    for i in range(n):
        row = [f"测试客户{i:04d}有限公司", f"138{i:08d}", "成交" if i % 3 else "潜在", 50000 + 1000 * i,
               "广东省/深圳市/南山区", "备注"]
        if i in bad:
            column, value = bad[i]
            row[HEADINGS.index(column)] = value
        rows.append(row)
    return rows


def workbook(path: Path, sheets: dict[str, tuple[list, list]]) -> Path:
    wb = Workbook(write_only=True)
    for title, (headings, rows) in sheets.items():
        ws = wb.create_sheet(title)
        ws.append(headings)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def crm(publish):
    return publish(BUNDLE)


@pytest.fixture
def cli(database_url, tmp_path):
    """cli(*args) -> click result of `tierwise ARGS --database ... --instance ...`."""
    def cli(*args):
        return CliRunner().invoke(main, [*map(str, args), "--database", database_url, "--instance", tmp_path / "cli"])
    return cli


@pytest.fixture
def db(app):
    """db(fn) -> fn(session), in a session of its own."""
    from designer.db import transaction

    def db(fn):
        with app.app_context(), transaction(app) as s:
            return fn(s)
    return db


def count(db, object_key="customer") -> int:
    from designer.models import Record
    return db(lambda s: s.scalar(select(func.count()).select_from(Record).where(Record.object == object_key)))


def titles(db, object_key="customer") -> list[str]:
    from designer.models import Record
    return db(lambda s: list(s.scalars(select(Record.title).where(Record.object == object_key).order_by(Record.id))))


def first_sheet(path: Path) -> list[tuple]:
    """The rows of a workbook's first sheet; the file closed again (a read-only workbook keeps it open)."""
    wb = load_workbook(path, read_only=True)
    try:
        return list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()


def job_of(db, job_id: int):
    from designer.models import ImportJob
    return db(lambda s: s.get(ImportJob, job_id))


def problems_of(db, job_id: int, kind: str = "error") -> list[tuple]:
    from designer.models import ImportProblem
    return db(lambda s: [(p.stage, p.file_row, p.column_label, p.message) for p in s.scalars(
        select(ImportProblem).where(ImportProblem.job_id == job_id, ImportProblem.kind == kind)
        .order_by(ImportProblem.stage, ImportProblem.file_row))])


def add_customer(app, frozen, owner, **values):
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    with app.app_context(), transaction(app) as s:
        return save(s, current(s), owner, "customer", values, owner=owner, now=frozen).record.id


def upload(client, path: Path, **files) -> str:
    data = {"file": (io.BytesIO(path.read_bytes()), path.name)}
    for name, extra in files.items():
        data[name] = (io.BytesIO(extra.read_bytes()), extra.name)
    response = client.post("/o/customer/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


MAPPING = {"c0": "name", "c1": "phone", "c2": "stage", "c3": "annual_revenue", "c4": "region", "c5": ""}


@pytest.mark.parametrize("ahead", ["here", "by a helper"])
def test_partial_import_of_1000_rows_reports_the_5_bad_ones_by_row_and_column(crm, login, app, db, tmp_path, ahead):
    """(The rows are checked in the import's thread, or a batch ahead by a helper process, which a
    workspace starts for imports of 20,000 rows or more.)"""
    from designer.imports import jobs
    if ahead != "here":
        app.config["IMPORT_AHEAD_FROM"] = 0
    path = workbook(tmp_path / "客户.xlsx", {"客户": (HEADINGS, customers())})
    admin = login("boss", role="admin")
    location = upload(admin, path)
    page = admin.get(location).get_data(as_text=True)
    assert 'selected value="name"' in page and 'selected value="annual_revenue"' in page  # by the Chinese headings
    assert "测试客户0010有限公司" in page and "应为数字，收到 &#39;很多&#39;" in page  # row 12 in the preview, its error
    assert page.count("将导入") == 19 and count(db) == 0  # the other 19 rows are fine; nothing is written yet
    response = admin.post(location, data={**MAPPING, "mode": "partial", "duplicates": "skip", "owner": "boss",
                                          "action": "run"})
    assert response.status_code == 302
    job_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    jobs.wait(app, job_id)
    state = admin.get(f"/import/{job_id}/progress").get_json()
    assert state["status"] == "done" and state["total"] == 1000 and state["done"] == 1000
    assert (state["imported"], state["errors"], state["skipped"]) == (995, 5, 0)
    assert count(db) == 995
    errors = problems_of(db, job_id)
    assert [(row, column) for _stage, row, column, _message in errors] == [(i + 2, BAD[i][0]) for i in sorted(BAD)]
    assert "应为数字" in errors[0][3] and "不是可选项" in errors[1][3] and "必填" in errors[3][3]
    page = admin.get(f"/import/{job_id}").get_data(as_text=True)
    assert "import-progress" in page and "progress.js" in page and "<script>" not in page
    assert 'id="summary"' not in page  # five problems, none repeated: nothing to sum up
    download = admin.get(f"/import/{job_id}/errors.xlsx")
    assert download.status_code == 200
    ws = load_workbook(io.BytesIO(download.data), read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == HEADINGS + ["原行号", "错误"]
    assert [r[-2] for r in rows[1:]] == [i + 2 for i in sorted(BAD)]
    assert [r[0] for r in rows[1:]] == [customers()[i][0] for i in sorted(BAD)]
    assert rows[1][-1].startswith("年采购额：")
    assert login("other", role="admin").get(f"/import/{job_id}").status_code == 200
    assert login("rep1").get(f"/import/{job_id}").status_code == 404  # someone else's import


def test_all_or_nothing_writes_nothing_and_reports_every_bad_row(crm, cli, db, tmp_path):
    path = workbook(tmp_path / "客户.xlsx", {"客户": (HEADINGS, customers())})
    errors = tmp_path / "errors.xlsx"
    result = cli("import", path, "--object", "customer", "--mode", "all", "--errors", errors)
    assert result.exit_code == 1, result.output
    assert "imported 0, updated 0, skipped 0, failed 5 (all or nothing: nothing was written)" in result.stdout
    assert count(db) == 0
    from designer.models import AuditEntry, Counter, DuplicateKey
    assert db(lambda s: [s.scalar(select(func.count()).select_from(t)) for t in (AuditEntry, DuplicateKey, Counter)]) \
        == [0, 0, 0]
    job = job_of(db, 1)
    assert job.status == "failed" and job.report["checked"]["imported"] == 995
    assert [row for _s, row, _c, _m in problems_of(db, 1)] == [i + 2 for i in sorted(BAD)]
    rows = first_sheet(errors)
    assert len(rows) == 1 + len(BAD)
    good = workbook(tmp_path / "good.xlsx", {"客户": (HEADINGS, customers(30, {}))})
    result = cli("import", good, "--object", "customer", "--mode", "all")
    assert result.exit_code == 0 and "imported 30, updated 0, skipped 0, failed 0" in result.stdout
    assert count(db) == 30


@pytest.mark.parametrize("mode", ["skip", "update", "new"])
def test_duplicates_are_skipped_updated_or_imported_anyway(mode, crm, cli, db, app, frozen, make_user, tmp_path):
    make_user("alice")
    first = add_customer(app, frozen, "alice", name="华东精密机械有限公司", phone="13812345678", annual_revenue=10)
    second = add_customer(app, frozen, "alice", name="老客户乙", phone="13900000000")
    rows = [["上海华东精密机械有限公司", None, None, 2000000, None, None],  # same company as `first` (block)
            ["新客户甲", "139-0000-0000", None, 200000, None, None],  # same phone as `second` (warn)
            ["新客户丙", None, None, 5, None, None]]
    path = workbook(tmp_path / "dup.xlsx", {"Sheet1": (HEADINGS, rows)})
    result = cli("import", path, "--object", "customer", "--duplicates", mode)
    from designer.models import Record
    records = db(lambda s: {r.id: (r.title, r.data.get("annual_revenue"), r.computed.get("tier"))
                            for r in s.scalars(select(Record))})
    if mode == "skip":
        assert "imported 1, updated 0, skipped 2, failed 0" in result.stdout and result.exit_code == 0
        assert records[first] == ("华东精密机械有限公司", 10, "C") and records[second][0] == "老客户乙"
        notes = problems_of(db, 1, "skipped")
        assert [(row, column) for _s, row, column, _m in notes] == [(2, "客户名称"), (3, "手机号")]
        assert "华东精密机械有限公司" in notes[0][3] and "alice" in notes[0][3]  # names the record and its owner
    elif mode == "update":
        assert "imported 1, updated 2, skipped 0, failed 0" in result.stdout and result.exit_code == 0
        assert records[first] == ("上海华东精密机械有限公司", 2000000, "A")
        assert records[second][:2] == ("新客户甲", 200000)
        assert len(records) == 3
    else:
        assert "imported 2, updated 0, skipped 0, failed 1" in result.stdout and result.exit_code == 1
        [(_s, row, column, message)] = problems_of(db, 1)
        assert (row, column) == (2, "客户名称") and "华东精密机械有限公司" in message  # block mode: never twice
        [(_s, row, column, message)] = problems_of(db, 1, "warning")
        assert (row, column) == (3, "手机号") and "老客户乙" in message
        assert len(records) == 4


class Killed(Exception):
    """The process dies here (the runner records the job as interrupted)."""


@pytest.mark.parametrize("ahead", ["here", "by a helper"])
def test_killed_import_leaves_no_partial_rows_and_resumes_without_duplicates(crm, cli, db, tmp_path, monkeypatch,
                                                                            ahead):
    from designer.imports import ahead as checking, batch
    started = []
    monkeypatch.setattr(checking, "ProcessPoolExecutor",
                        lambda *a, real=checking.ProcessPoolExecutor, **k: started.append(1) or real(*a, **k))
    if ahead != "here":  # the helper has checked batches beyond the one killed: they are dropped with it
        monkeypatch.setenv("TIERWISE_IMPORT_AHEAD_FROM", "0")
    path = workbook(tmp_path / "客户.xlsx", {"客户": (HEADINGS, customers())})
    real_insert, calls = batch._Batch._insert, []

    def dying_insert(*args, **kw):
        real_insert(*args, **kw)
        calls.append(1)
        if len(calls) == 2:  # the second batch of 500 is written but not yet committed
            raise Killed("killed")

    monkeypatch.setattr(batch._Batch, "_insert", dying_insert)
    result = cli("import", path, "--object", "customer")
    assert result.exit_code == 1 and "--resume 1" in result.output and "Killed" in result.output
    job = job_of(db, 1)
    assert job.status == "interrupted" and job.last_row == 501 and job.stage == "parents"
    assert count(db) == 500 - 3  # the first batch, less its three bad rows; nothing of the second batch
    from designer.models import AuditEntry, DuplicateKey
    assert db(lambda s: s.scalar(select(func.count()).select_from(AuditEntry))) == 497
    assert db(lambda s: s.scalar(select(func.count(func.distinct(DuplicateKey.record_id))))) == 497
    assert (job.imported, job.errors, job.done) == (497, 3, 500)
    monkeypatch.setattr(batch._Batch, "_insert", real_insert)
    result = cli("import", "--resume", 1)
    assert "imported 995, updated 0, skipped 0, failed 5" in result.stdout
    names = titles(db)
    assert len(names) == len(set(names)) == 995
    assert [row for _s, row, _c, _m in problems_of(db, 1)] == [i + 2 for i in sorted(BAD)]
    assert cli("import", "--resume", 1).exit_code == 1  # done: nothing to resume
    assert len(started) == (0 if ahead == "here" else 2)  # a helper for the import, one for its resumption


class Dead(BaseException):
    """The process is killed outright: nothing gets to record anything."""


def test_a_job_left_running_by_a_dead_process_is_resumable_once_stale(crm, app, db, login, tmp_path, monkeypatch):
    from designer.clock import freeze
    from designer.imports import batch, jobs, runner
    app.config["IMPORT_BATCH_SIZE"] = 10
    path = workbook(tmp_path / "客户.xlsx", {"客户": (HEADINGS, customers(35, {}))})
    admin = login("boss", role="admin")
    location = upload(admin, path)
    real_start, real_insert, calls = jobs.start, batch._Batch._insert, []

    def dying_insert(*args, **kw):
        real_insert(*args, **kw)
        calls.append(1)
        if len(calls) == 3:  # in the third batch of ten, its records written but not committed
            raise Dead()

    monkeypatch.setattr(jobs, "start", lambda app, job_id: None)  # queue it, but run it here, in this thread
    assert admin.post(location, data={**MAPPING, "mode": "partial", "duplicates": "skip", "owner": "boss",
                                      "action": "run"}).status_code == 302
    monkeypatch.setattr(batch._Batch, "_insert", dying_insert)
    with pytest.raises(Dead):
        runner.run(app, 1)
    monkeypatch.setattr(batch._Batch, "_insert", real_insert)
    monkeypatch.setattr(jobs, "start", real_start)
    job = job_of(db, 1)
    assert (job.status, job.last_row, count(db)) == ("running", 21, 20)  # two batches of ten committed
    admin.post("/import/1/resume")
    assert "无法继续" in admin.get("/import/1").get_data(as_text=True)  # a fresh heartbeat: it may be running
    with freeze(job.heartbeat_at + jobs.STALE_AFTER + timedelta(seconds=1)):
        page = admin.get("/import/1").get_data(as_text=True)
        assert "继续导入" in page and "第 21 行" in page
        assert admin.post("/import/1/resume").status_code == 302
        jobs.wait(app, 1)
    job = job_of(db, 1)
    assert (job.status, job.imported, job.done) == ("done", 35, 35)
    assert count(db) == 35 and len(set(titles(db))) == 35


ORDERS = ["客户名称", "日期", "金额"]


def test_child_rows_from_the_second_sheet_are_matched_to_parents_by_name(crm, login, app, db, tmp_path):
    from designer.imports import jobs
    parents = [["甲公司", None, "成交", 100, None, None], ["乙公司", None, "成交", 100, None, None]]
    orders = [["甲公司", "2026-03-01", 300000], ["甲公司（北京）", "2026-03-02", 250000],  # company match: same
              ["乙公司", "2026-03-03", 10], ["丙公司", "2026-03-04", 5], ["乙公司", "不是日期", 1]]
    path = workbook(tmp_path / "客户和订单.xlsx", {"客户": (HEADINGS, parents), "订单": (ORDERS, orders)})
    admin = login("boss", role="admin")
    location = upload(admin, path)
    page = admin.get(location).get_data(as_text=True)
    assert 'selected value="sheet:订单"' in page  # the second sheet holds the child records
    assert 'selected value="@parent"' in page and "↑ 所属客户：客户名称" in page  # its parent column, by heading
    data = {**MAPPING, "child_source": "sheet:订单", "child_object": "order", "match": "name",
            "child_for": "sheet:订单|order|name", "k0": "@parent", "k1": "date", "k2": "amount",
            "mode": "partial", "duplicates": "skip", "action": "run"}
    response = admin.post(location, data=data)
    assert response.status_code == 302
    jobs.wait(app, 1)
    job = job_of(db, 1)
    assert (job.status, job.imported, job.errors, job.total) == ("done", 5, 2, 7)
    errors = problems_of(db, 1)
    assert [(stage, row, column) for stage, row, column, _m in errors] == [("children", 5, "客户名称"),
                                                                           ("children", 6, "日期")]
    assert "丙公司" in errors[0][3]
    from designer.models import Record
    spend = db(lambda s: {r.title: (r.computed.get("spend"), r.computed.get("tier"), r.computed.get("tags"))
                          for r in s.scalars(select(Record).where(Record.object == "customer"))})
    assert spend["甲公司"] == (550000, "A", ["复购"]) and spend["乙公司"][0] == 10
    ws = load_workbook(io.BytesIO(admin.get("/import/1/errors.xlsx").data), read_only=True)
    assert ws.sheetnames == ["订单"]
    assert [r[:3] for r in ws["订单"].iter_rows(min_row=2, values_only=True)] == [tuple(orders[3]), tuple(orders[4])]


def test_cli_imports_gb18030_csv_with_a_children_file(crm, cli, db, make_user, tmp_path):
    make_user("alice")
    main_csv = tmp_path / "customers.csv"
    main_csv.write_bytes("客户名称,手机号,阶段\n甲公司,13800000001,成交\n乙公司,13800000002,流失\n,13800000003,成交\n"
                         .encode("gb18030"))
    orders = tmp_path / "orders.csv"
    orders.write_text("customer name,date,amount\n甲公司,2026-03-01,12.50\n", encoding="utf-8-sig")
    errors = tmp_path / "errors.xlsx"
    result = cli("import", main_csv, "--object", "customer", "--children", orders, "--child-object", "order",
                 "--match", "name", "--owner", "alice", "--errors", errors)
    assert "name" in result.stderr  # the mapping is shown
    assert "no column is headed 客户名称 (or name)" in result.output and result.exit_code == 1
    orders.write_text("客户名称,date,amount\n甲公司,2026-03-01,12.50\n", encoding="utf-8-sig")
    result = cli("import", main_csv, "--object", "customer", "--children", orders, "--owner", "alice",
                 "--errors", errors)
    assert result.exit_code == 1
    assert result.stdout.strip().endswith(f"import 1: imported 2, updated 0, skipped 0, failed 2; failed rows in {errors}")
    assert [(row, column) for _s, row, column, _m in problems_of(db, 1)] == [(3, "流失原因"), (4, "客户名称")]
    from designer.models import Record
    owners = db(lambda s: {r.title: r.owner for r in s.scalars(select(Record).where(Record.object == "customer"))})
    assert owners == {"甲公司": "alice"}
    assert count(db, "order") == 1
    rows = first_sheet(errors)
    assert [r[-2] for r in rows[1:]] == [3, 4]
    more = tmp_path / "more-orders.csv"  # child records alone, matched to existing parents by their autonumber
    more.write_text("编号,日期,金额\nKH-2026-0001,2026-03-05,1\nKH-2026-0099,2026-03-05,1\n", encoding="utf-8")
    result = cli("import", more, "--object", "order", "--match", "code")
    assert "import 2: imported 1, updated 0, skipped 0, failed 1" in result.stdout
    [(_s, row, column, message)] = problems_of(db, 2)
    assert (row, column) == (3, "编号") and "KH-2026-0099" in message
    assert count(db, "order") == 2
    assert cli("import", main_csv, "--object", "nope").exit_code == 2
    assert cli("import", main_csv, "--object", "customer", "--owner", "ghost").exit_code == 2
    assert cli("import", "--object", "customer").exit_code == 2
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    result = cli("import", bad, "--object", "customer")
    assert result.exit_code == 1 and "not a .csv or .xlsx file" in result.output


def test_rep_imports_as_owner_and_cannot_update_what_they_cannot_see(crm, login, app, db, frozen, make_user, tmp_path):
    from designer.imports import jobs
    make_user("bob")
    add_customer(app, frozen, "bob", name="鲍勃公司", annual_revenue=1)
    path = workbook(tmp_path / "rep.xlsx", {"客户": (HEADINGS, [["鲍勃公司", None, None, 99, None, None],
                                                                ["爱丽丝公司", None, None, 1, None, None]])})
    alice = login("alice")
    location = upload(alice, path)
    page = alice.get(location).get_data(as_text=True)
    assert 'name="owner"' not in page  # a rep's records are their own
    assert "将跳过" in page and "与已有记录「鲍勃公司」重复（负责人 bob）" in page  # the preview names the duplicate
    assert alice.post(location, data={**MAPPING, "mode": "partial", "duplicates": "update",
                                      "action": "run"}).status_code == 302
    jobs.wait(app, 1)
    [(_s, row, column, message)] = problems_of(db, 1)
    assert row == 2 and "权限" in message
    from designer.models import Record
    owners = db(lambda s: {r.title: (r.owner, r.data.get("annual_revenue")) for r in s.scalars(select(Record))})
    assert owners == {"鲍勃公司": ("bob", 1), "爱丽丝公司": ("alice", 1)}


def test_upload_refuses_what_is_not_a_table(crm, login, tmp_path):
    admin = login("boss", role="admin")
    response = admin.post("/o/customer/import", data={"file": (io.BytesIO(b"\x00\x01"), "x.xlsx")},
                          content_type="multipart/form-data")
    assert response.status_code == 422 and "无法读取" in response.get_data(as_text=True)
    response = admin.post("/o/customer/import", data={"file": (io.BytesIO(b"a,b"), "x.txt")},
                          content_type="multipart/form-data")
    assert response.status_code == 422
    assert admin.get("/o/order/import").status_code == 404


def test_the_map_page_guesses_near_headings_and_asks_to_check_those_guesses(crm, login, db, tmp_path):
    path = tmp_path / "名单.csv"
    path.write_text("公司名称,联系电话,客户阶段,地区\n甲公司,13800138000,潜在,广东省/深圳市\n", encoding="utf-8")
    admin = login("boss", role="admin")
    location = upload(admin, path)
    page = admin.get(location).get_data(as_text=True)
    for i, key in enumerate(["name", "phone", "stage", "region"]):
        assert f'selected value="{key}"' in page.split(f'id="c{i}"')[1].split("</select>")[0]
    assert page.count("按相近的列名猜测，请核对。") == 3  # not for 地区, the label itself
    assert 'id="c1-guess"' in page
    page = admin.post(location, data={"c0": "name", "c1": "", "c2": "stage", "c3": "region", "mode": "partial",
                                      "duplicates": "skip", "owner": "boss", "action": "preview"}).get_data(as_text=True)
    assert page.count("按相近的列名猜测，请核对。") == 2 and 'id="c1-guess"' not in page  # the importer chose
    assert count(db) == 0


def test_cli_says_which_columns_it_guessed_from_near_headings_or_values(crm, cli, db, tmp_path):
    path = tmp_path / "名单.csv"
    rows = "".join(f"甲{i}公司,1380013800{i},广东省/深圳市\n" for i in range(4))
    path.write_text("公司名称,备用列,地区\n" + rows, encoding="utf-8")
    result = cli("import", path, "--object", "customer")
    assert result.exit_code == 0, result.output
    assert "公司名称 → name (guessed from a similar heading)" in result.output
    assert "备用列 → phone (guessed from the column's values)" in result.output
    assert "地区 → region" in result.output and "地区 → region (" not in result.output
    assert count(db) == 4
