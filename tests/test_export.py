"""Exporting lists: the list's filters and scope, labels as headings, values as on the page, classifications
with the sentence saying why; XLSX, and CSV with a BOM; the same from the command line."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from designer.cli import main

BUNDLE = Path(__file__).parent / "data" / "crm.bundle.yaml"
WHY_A = "A：命中规则 1「年采购百万以上或累计消费五十万以上」；依据：年采购额 = 1,500,000、累计消费 = 0"


@pytest.fixture
def crm(publish, app, frozen, make_user):
    """Three customers of alice (tiers A, B, C), who reports to the manager boss, and one of bob (A)."""
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    publish(BUNDLE)
    make_user("boss", role="manager")
    make_user("alice", manager="boss")
    make_user("bob")
    rows = [("alice", dict(name="华东精密机械有限公司", phone="13812345678", stage="成交", annual_revenue=1500000,
                           region="广东省/深圳市/南山区")),
            ("alice", dict(name="=HYPERLINK(\"http://x\")", stage="潜在", annual_revenue=200000)),
            ("alice", dict(name="小店", stage="流失", lost_reason="搬走了", annual_revenue=100)),
            ("bob", dict(name="鲍勃集团", stage="成交", annual_revenue=3000000))]
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for owner, values in rows:
            save(s, cur, owner, "customer", values, owner=owner, now=frozen)


def login_as(app, username):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": f"pw-{username}-secret"}).status_code == 302
    return client


def xlsx_rows(data: bytes) -> list[list]:
    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_list_page_exports_keeping_its_filters(crm, app):
    alice = login_as(app, "alice")
    page = alice.get("/o/customer/?c.tier=A&q=%E5%8D%8E&after=abc").get_data(as_text=True)
    assert "导出 Excel" in page and "导出 CSV" in page and 'action="/o/customer/export"' in page
    assert '<input type="hidden" name="c.tier" value="A">' in page and '<input type="hidden" name="q" value="华">' in page
    assert 'name="after"' not in page  # the whole list, not the page shown
    response = alice.post("/o/customer/export", data={"fmt": "csv", "c.tier": "A", "q": "华"})
    assert response.status_code == 303  # a short list: straight to its file
    assert response.headers["Location"] == "/o/customer/export.csv?c.tier=A&q=%E5%8D%8E"
    assert alice.post("/o/customer/export", data={"fmt": "pdf"}).status_code == 400


def test_xlsx_export_of_a_filtered_list_has_labels_values_and_explanations(crm, app):
    admin = login_as(app, "boss")
    response = admin.get("/o/customer/export.xlsx?c.tier=A&sort=title")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = xlsx_rows(response.data)
    head = rows[0]
    assert head[:8] == ["客户名称", "手机号", "阶段", "流失原因", "年采购额", "地区", "编号", "累计消费"]
    assert head[8:] == ["负责人", "公海", "创建时间", "更新时间", "客户等级", "客户等级（原因）", "标签", "标签（原因）",
                        "价值分", "价值分（原因）"]
    assert [r[0] for r in rows[1:]] == ["华东精密机械有限公司"]  # a manager's scope: alice's A, not bob's
    row = dict(zip(head, rows[1]))
    assert row["手机号"] == "13812345678" and row["阶段"] == "成交" and row["年采购额"] == 1500000
    assert row["编号"] == "KH-2026-0001" and row["负责人"] == "alice" and row["创建时间"] == "2026-03-15 10:00"
    assert row["客户等级"] == "A" and row["客户等级（原因）"] == WHY_A
    assert row["价值分"] == 65 and row["价值分（原因）"].startswith("65：基础分 10；命中规则 1「A 级」（+50 分）")
    everything = xlsx_rows(login_as(app, "boss").get("/o/customer/export.xlsx").data)
    assert len(everything) == 1 + 3


def test_csv_export_has_a_bom_and_follows_the_expression_filter(crm, app):
    response = login_as(app, "alice").get("/o/customer/export.csv?expr=annual_revenue+%3E%3D+100000&sort=title")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    assert "filename*=UTF-8''%E5%AE%A2%E6%88%B7-20260315-1000.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][0] == "客户名称" and len(rows) == 3
    names = sorted(r[0] for r in rows[1:])
    assert names == ["'=HYPERLINK(\"http://x\")", "华东精密机械有限公司"]  # a formula is not run by Excel
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == "华东精密机械有限公司")))
    assert row["年采购额"] == "1500000" and row["客户等级（原因）"] == WHY_A and row["流失原因"] == ""
    broken = login_as(app, "alice").get("/o/customer/export.csv?expr=tier+%3D%3D")
    assert broken.status_code == 302 and "/o/customer/" in broken.headers["Location"]


def test_formula_looking_text_stays_text_in_xlsx(crm, app):
    rows = xlsx_rows(login_as(app, "alice").get("/o/customer/export.xlsx?c.tier=B").data)
    assert rows[1][0] == "=HYPERLINK(\"http://x\")"
    ws = load_workbook(io.BytesIO(login_as(app, "alice").get("/o/customer/export.xlsx?c.tier=B").data)).worksheets[0]
    assert ws["A2"].data_type == "s"


def test_a_rep_exports_only_their_own_records(crm, app):
    alice = [r[0] for r in xlsx_rows(login_as(app, "alice").get("/o/customer/export.xlsx").data)[1:]]
    bob = list(csv.reader(io.StringIO(login_as(app, "bob").get("/o/customer/export.csv").data.decode("utf-8-sig"))))
    assert sorted(alice) == sorted(["华东精密机械有限公司", "=HYPERLINK(\"http://x\")", "小店"])
    assert [r[0] for r in bob[1:]] == ["鲍勃集团"]


def test_export_pages_through_every_record(crm, app, monkeypatch):
    from designer.exports import files
    monkeypatch.setattr(files, "PAGE", 1)  # one record per query: the keyset cursor carries the filters along
    rows = xlsx_rows(login_as(app, "alice").get("/o/customer/export.xlsx?sort=-created").data)
    assert [r[0] for r in rows[1:]] == ["小店", "=HYPERLINK(\"http://x\")", "华东精密机械有限公司"]


def test_cli_export(crm, database_url, tmp_path):
    def cli(*args):
        return CliRunner().invoke(main, [*map(str, args), "--database", database_url, "--instance", tmp_path / "cli"])
    out = tmp_path / "a.csv"
    result = cli("export", "--object", "customer", "--filter", "tier == 'A'", "--format", "csv", out)
    assert result.exit_code == 0 and result.stdout.strip() == f"exported 2 customer record(s) to {out}"
    assert "export customer" in result.stderr  # the progress bar (its label alone, when not on a terminal)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert sorted(r[0] for r in rows[1:]) == ["华东精密机械有限公司", "鲍勃集团"]
    out = tmp_path / "mine.xlsx"
    result = cli("export", "--object", "customer", "--user", "alice", out)
    assert result.exit_code == 0 and len(xlsx_rows(out.read_bytes())) == 4
    result = cli("export", "--object", "customer", "--filter", "tier ==", out)
    assert result.exit_code == 2 and "--filter" in result.output
    assert cli("export", "--object", "order", out).exit_code == 2


def test_a_long_list_is_exported_in_the_background_and_only_its_user_gets_the_file(crm, app):
    from designer.exports import jobs
    app.config["EXPORT_INLINE_ROWS"] = 1  # alice sees 3 customers: a long list here
    alice = login_as(app, "alice")
    response = alice.post("/o/customer/export", data={"fmt": "xlsx", "sort": "title"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/export/")
    job_page = response.headers["Location"]
    job_id = int(job_page.rsplit("/", 1)[1])
    jobs.wait(app, job_id)
    state = alice.get(f"{job_page}/progress").get_json()
    assert (state["status"], state["done"], state["total"], state["finished"]) == ("done", 3, 3, True)
    page = alice.get(job_page).get_data(as_text=True)
    assert "下载文件" in page and "progress.js" in page and f"/export/{job_id}/file" in page
    with alice.get(f"{job_page}/file") as download:
        assert download.status_code == 200
        assert "filename*=UTF-8''%E5%AE%A2%E6%88%B7-" in download.headers["Content-Disposition"]
        direct = alice.get("/o/customer/export.xlsx?sort=title")
        assert xlsx_rows(download.data) == xlsx_rows(direct.data)  # the list, as the direct export gives it
    listed = alice.get("/o/customer/").get_data(as_text=True)  # where she finds it again after leaving its page
    assert f'href="/export/{job_id}">客户-' in listed and "(可以下载)" in listed
    assert f"/export/{job_id}" not in login_as(app, "bob").get("/o/customer/").get_data(as_text=True)
    for other in ("bob", "boss"):  # not even her manager: the file holds what alice may see
        assert login_as(app, other).get(f"{job_page}/file").status_code == 404
        assert login_as(app, other).get(job_page).status_code == 404
    app.config["EXPORT_INLINE_ROWS"] = 0
    csv_job = alice.post("/o/customer/export", data={"fmt": "csv", "c.tier": "B"}).headers["Location"]
    jobs.wait(app, int(csv_job.rsplit("/", 1)[1]))
    with alice.get(f"{csv_job}/file") as download:
        rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["=HYPERLINK(\"http://x\")".replace("=", "'=", 1)]


def test_an_export_that_fails_stops_or_outlives_its_day_says_what_to_do(crm, app, frozen, monkeypatch):
    from datetime import timedelta

    from designer.db import transaction
    from designer.exports import files, jobs
    from designer.models import ExportJob
    app.config["EXPORT_INLINE_ROWS"] = 1
    alice = login_as(app, "alice")
    broken = alice.post("/o/customer/export", data={"fmt": "xlsx", "expr": "tier =="})
    assert broken.status_code == 302 and "/o/customer/" in broken.headers["Location"]  # back to the list, said why
    with app.app_context(), transaction(app) as s:
        assert s.query(ExportJob).count() == 0

    def full_disk(rows, out, title):
        next(rows)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files, "write_xlsx", full_disk)
    failed = alice.post("/o/customer/export", data={"fmt": "xlsx"}).headers["Location"]
    jobs.wait(app, int(failed.rsplit("/", 1)[1]))
    assert alice.get(f"{failed}/progress").get_json()["status"] == "failed"
    page = alice.get(failed).get_data(as_text=True)
    assert "导出失败" in page and "No space left on device" in page
    assert alice.get(f"{failed}/file").status_code == 404
    assert list(jobs.folder(app).glob("*.part")) == []  # nothing half-written is left

    monkeypatch.undo()
    app.config["EXPORT_INLINE_ROWS"] = 1
    done = alice.post("/o/customer/export", data={"fmt": "xlsx"}).headers["Location"]
    job_id = int(done.rsplit("/", 1)[1])
    jobs.wait(app, job_id)
    with app.app_context(), transaction(app) as s:
        path = s.get(ExportJob, job_id).path
        s.get(ExportJob, job_id).created_at -= jobs.KEEP + timedelta(minutes=1)
    assert Path(path).is_file()
    later = alice.post("/o/customer/export", data={"fmt": "csv"}).headers["Location"]  # sweeps the old file
    jobs.wait(app, int(later.rsplit("/", 1)[1]))
    assert not Path(path).exists()
    with app.app_context(), transaction(app) as s:  # a process stopped while writing this one
        s.add(ExportJob(username="alice", object="customer", fmt="csv", args={}, status="running", total=3,
                        created_at=frozen))
    stopped = "/export/4"
    assert alice.get(f"{stopped}/progress").get_json()["status"] == "interrupted"
    assert "导出被中断" in alice.get(stopped).get_data(as_text=True)
    gone = alice.get(f"{done}/file")
    assert gone.status_code == 410 and "重新导出" in gone.get_data(as_text=True)
    assert "重新导出" in alice.get(done).get_data(as_text=True)
