"""The `tierwise` command line, driven as a user would (click's runner, real files)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from designer.cli import main

from .conformance_support import HERE

RETAIL = str(HERE / "retail.bundle.yaml")
AS_OF = "2026-03-15T10:00:00+08:00"


@pytest.fixture
def run():
    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return run


def test_lint_valid(run):
    result = run("lint", RETAIL)
    assert result.exit_code == 0 and "ok (2 objects" in result.output


def test_lint_reports_every_problem_located(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bundle: bad\nobjects:\n  customer:\n    fields:\n      - {key: revenue, type: money, min: abc}\n"
                   "      - {key: tier_note, type: text, visible_if: \"revenu > 1\"}\n", encoding="utf-8")
    result = run("lint", RETAIL, bad)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{bad}:5:42: objects.customer.fields[0].min: expected a number, got 'abc'",
        f"{bad}:6:51: objects.customer.fields[1].visible_if: unknown name `revenu`; did you mean `revenue`?",
    ]


def test_lint_skips_non_bundles_given_by_a_glob(run, tmp_path):
    (tmp_path / "README.md").write_text("# templates")
    result = run("lint", tmp_path / "README.md", RETAIL)
    assert result.exit_code == 0 and "skipped" in result.stderr


def test_eval_prints_one_json_line_per_expression(run, tmp_path):
    record = tmp_path / "r.json"
    record.write_text(json.dumps({"name": "王芳", "member_since": "2026-03-01",
                                  "order": [{"date": "2026-03-01", "amount": 800.5, "status": "paid"}]}), encoding="utf-8")
    result = run("eval", RETAIL, "--object", "customer", "--record", record, "--as-of", AS_OF,
                 "spend_12m", "last_order_at", "today() + 12h", "today() - member_since", "tags", "phone", "rfm",
                 "revenu > 1", "spend_12m > 'x'", "(1")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[:7] == [
        {"type": "number", "value": 800.5},
        {"type": "date", "value": "2026-03-01"},
        {"type": "datetime", "value": "2026-03-15T12:00:00+08:00"},
        {"type": "duration", "value": 14 * 86400},
        {"type": "list", "value": ["新会员"]},
        {"type": "text", "value": None},
        {"type": "text", "value": "一般发展客户"},
    ]
    assert lines[7]["error"]["kind"] == "name" and "did you mean" in lines[7]["error"]["message"]
    assert lines[8]["error"] == {"kind": "type", "column": 11, "message": "cannot compare number with text"}
    assert lines[9]["error"]["kind"] == "syntax"
    assert '"value":800.50' in result.stdout or '"value":800.5' in result.stdout  # exact decimal, not float noise


def test_eval_all_accepted_exits_zero(run):
    result = run("eval", RETAIL, "--object", "customer", "--as-of", AS_OF, "count(order)")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"type": "number", "value": 0}


def test_eval_bad_as_of_is_a_message_not_a_traceback(run):
    result = run("eval", RETAIL, "--object", "customer", "--as-of", "yesterday", "1")
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_eval_unknown_object(run):
    result = run("eval", RETAIL, "--object", "client", "1")
    assert result.exit_code == 2 and "objects: customer, order" in result.output


def test_classify_jsonl_with_invalid_records(run, tmp_path):
    records = tmp_path / "c.jsonl"
    records.write_text("\n".join([
        json.dumps({"name": "王芳", "city": "上海", "order": [{"date": "2026-03-01", "amount": 6000, "status": "paid"}]},
                   ensure_ascii=False),
        json.dumps({"name": "李强", "phone": "123", "order": [{"date": "soon", "amount": 1}]}, ensure_ascii=False),
        "{not json",
        json.dumps({"city": "成都"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    result = run("classify", RETAIL, records, "--object", "customer", "--as-of", AS_OF)
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 1
    assert out[0]["rfm"] == "重要发展客户" and out[0]["tags"] == ["一线城市"]
    assert out[0]["_explain"]["rfm"]["rules"][0]["index"] == 2
    assert out[0]["_explain"]["rfm"]["read"]["spend_12m"] == 6000
    err = result.stderr
    assert f"{records}:2: phone:" in err and f"{records}:2: order[0].date:" in err
    assert f"{records}:3: not valid JSON" in err and f"{records}:4: name: 必填" in err


def test_classify_csv_with_chinese_headers_in_gb18030(run, tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("名称,手机号,城市,入会日期\n张伟,+86 137 0000 0003,北京,2023-01-01\n,,,\n赵敏,,深圳,2026-03-10\n".encode("gb18030"))
    result = run("classify", RETAIL, path, "--object", "customer", "--as-of", AS_OF)
    assert result.exit_code == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["phone"] for o in out] == ["13700000003", None]
    assert [o["tags"] for o in out] == [["一线城市"], ["新会员"]]


def test_classify_xlsx(run, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["name", "城市", "入会日期"])
    ws.append(["陈静", "上海", None])
    ws.append(["", "火星", None])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    result = run("classify", RETAIL, path, "--object", "customer", "--as-of", AS_OF)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["tags"] == ["一线城市"]
    assert f"{path}:3: name: 必填" in result.stderr and f"{path}:3: city:" in result.stderr


def test_classify_unknown_file_type(run, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("x")
    result = run("classify", RETAIL, path, "--object", "customer")
    assert result.exit_code == 1 and "unknown record file type" in result.output


def test_invalid_bundle_stops_classify(run, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bundle: x\n")
    result = run("classify", bad, bad, "--object", "customer")
    assert result.exit_code == 1 and "missing `objects`" in result.stderr
