"""The import template: headings that map by themselves, drop-downs of each select's options on a hidden
sheet, a sheet per child object; filled in and imported through the page and the command line."""
from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

from designer.cli import main
from designer.imports.template import write_template
from engine import load_bundle

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "examples" / "manufacturing" / "bundle.yaml"
CUSTOMER = ["公司名称*", "联系人", "联系人手机", "邮箱", "所在地区", "所属行业", "企业规模", "线索来源", "销售阶段",
            "流失原因", "意向产品线", "预计年采购额", "集团战略客户", "售前工程师", "框架合同到期日"]


def test_the_template_has_a_sheet_per_object_headings_notes_and_drop_downs(tmp_path):
    bundle = load_bundle(BUNDLE)
    out = tmp_path / "t.xlsx"
    write_template(bundle, bundle.objects["customer"], out)
    wb = load_workbook(out)
    assert wb.sheetnames == ["客户", "订单", "拜访记录", "选项"] and wb["选项"].sheet_state == "hidden"
    customer, orders = wb["客户"], wb["订单"]
    assert [c.value for c in customer[1]] == CUSTOMER  # 销售阶段 is required, but its default fills it: no *
    assert [c.value for c in orders[1]] == ["公司名称*", "订单号", "下单日期*", "订单金额*", "产品线", "订单状态"]
    notes = {c.value: c.comment.text for c in customer[1]}
    assert notes["公司名称*"] == "必填。" and notes["框架合同到期日"] == "日期，如 2026-03-01"
    assert notes["意向产品线"] == "可选多个，用、分隔：数控机床、注塑机、工业机器人、自动化产线、零配件与耗材"
    assert orders["A1"].comment.text == "所属客户的公司名称：每行写明它属于哪一条客户"
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in customer.data_validations.dataValidation}
    assert lists == {"F2": "'选项'!$A$2:$A$7", "G2": "'选项'!$B$2:$B$5", "H2": "'选项'!$C$2:$C$6",
                     "I2": "'选项'!$D$2:$D$6", "M2": '"是,否"'}
    assert [c.value for c in wb["选项"]["A"]] == ["所属行业", "汽车零部件", "电子电器", "机械设备", "新能源", "化工材料",
                                                "食品包装"]
    assert customer.column_dimensions["O"].number_format == "yyyy-mm-dd" and customer.freeze_panes == "A2"
    assert customer.max_row == 1  # nothing in the data rows: whatever is there is imported
    write_template(bundle, bundle.objects["order"], out, lang="en")
    wb = load_workbook(out)
    assert wb.sheetnames == ["订单", "Options"] and wb["订单"]["C1"].comment.text == "Required. A date, e.g. 2026-03-01"


def _fill(data: bytes, path: Path) -> Path:
    """The template with two customers and three orders typed in, as Excel would keep them."""
    wb = load_workbook(io.BytesIO(data))
    customer, orders = wb["客户"], wb["订单"]
    customer.append(["甲精密机械有限公司", "王工", "13800000001", None, "广东省/深圳市/南山区", "机械设备", "200-1000人",
                     "展会", "商机", None, "数控机床、注塑机", 800000, "是", None, datetime(2027, 1, 31)])
    customer.append(["乙精密机械有限公司", None, None, None, None, "电子电器", None, None, None, None, None, None, "否"])
    orders.append(["甲精密机械有限公司", "SO-1", datetime(2026, 11, 1), 120000, "注塑机", "已回款"])
    orders.append(["甲精密机械有限公司", "SO-2", datetime(2026, 11, 20), 80000, None, None])
    orders.append(["乙精密机械有限公司", "SO-3", datetime(2026, 10, 2), 5000, "数控机床", "已下单"])
    wb.save(path)
    return path


def _records(app) -> dict:
    from designer.db import transaction
    from designer.models import Record
    with app.app_context(), transaction(app) as s:
        out: dict = {}
        for r in s.scalars(select(Record).order_by(Record.id)):
            out.setdefault(r.object, []).append(r.data)
        return out


def test_a_filled_in_template_maps_by_itself_and_imports_through_the_page(publish, app, login, tmp_path):
    from designer.imports import jobs
    from tests.test_import import upload
    publish(BUNDLE)
    admin = login("boss", role="admin")
    page = admin.get("/o/customer/import").get_data(as_text=True)
    assert 'href="/o/customer/import/template.xlsx"' in page and "下载导入模板（Excel）" in page
    download = admin.get("/o/customer/import/template.xlsx")
    assert download.status_code == 200
    assert "filename*=UTF-8''%E5%AE%A2%E6%88%B7%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx" in \
        download.headers["Content-Disposition"]  # 客户导入模板.xlsx
    location = upload(admin, _fill(download.data, tmp_path / "客户导入模板.xlsx"))
    page = admin.get(location).get_data(as_text=True)
    assert "请核对" not in page and "选项值对应" not in page  # every column by its heading; every value an option
    assert 'selected value="sheet:订单"' in page
    picked = dict(re.findall(r'<select id="(c\d+)" name="\1">.*?<option selected value="([^"]*)"', page, re.S))
    assert [picked.get(f"c{i}", "") for i in range(len(CUSTOMER))] == [
        "name", "contact_name", "mobile", "email", "region", "industry", "company_size", "source", "stage",
        "lost_reason", "product_lines", "annual_purchase", "is_key_account", "presales", "contract_end"]
    form = {f"c{i}": v for i, v in enumerate(picked.get(f"c{i}", "") for i in range(len(CUSTOMER)))}
    form.update({"child_source": "sheet:订单", "child_object": "order", "match": "name",
                 "child_for": "sheet:订单|order|name", "k0": "@parent", "k1": "order_no", "k2": "order_date",
                 "k3": "amount", "k4": "product_line", "k5": "status", "mode": "all", "duplicates": "skip",
                 "owner": "boss", "action": "run"})
    response = admin.post(location, data=form)
    assert response.status_code == 302
    jobs.wait(app, 1)
    records = _records(app)
    first = records["customer"][0]
    assert (first["industry"], first["product_lines"], first["is_key_account"], first["contract_end"],
            first["stage"]) == ("机械设备", ["数控机床", "注塑机"], True, "2027-01-31", "商机")
    assert records["customer"][1]["stage"] == "线索"  # left empty: the default
    assert [(o["order_no"], o["order_date"], o["status"]) for o in records["order"]] == [
        ("SO-1", "2026-11-01", "已回款"), ("SO-2", "2026-11-20", "已下单"), ("SO-3", "2026-10-02", "已下单")]


def test_the_command_line_writes_the_template_and_imports_it_filled_in(publish, app, database_url, tmp_path):
    publish(BUNDLE)

    def cli(*args):
        return CliRunner().invoke(main, [*map(str, args), "--database", database_url, "--instance", tmp_path / "cli"])
    out = tmp_path / "模板.xlsx"
    result = cli("import-template", out, "--object", "customer")
    assert result.exit_code == 0 and f"wrote {out}: 客户, 订单, 拜访记录" in result.output
    assert cli("import-template", out, "--object", "lead").exit_code == 2
    filled = _fill(out.read_bytes(), tmp_path / "filled.xlsx")
    result = cli("import", filled, "--object", "customer", "--children", "订单", "--mode", "all")
    assert result.exit_code == 0, result.output
    assert "imported 5, updated 0, skipped 0, failed 0" in result.stdout
    assert "guessed" not in result.stderr and "not an option" not in result.stderr
    assert len(_records(app)["order"]) == 3
