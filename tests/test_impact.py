"""Impact preview (designer.bundles.impact): what a new bundle would change, computed without writing."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from engine import load_bundle_text

ROOT = Path(__file__).resolve().parent.parent
CRM = (ROOT / "tests" / "data" / "crm.bundle.yaml").read_text("utf-8")
CASES = yaml.safe_load((ROOT / "tests" / "data" / "bulk_cases.yaml").read_text("utf-8"))
AS_OF = datetime.fromisoformat(CASES["as_of"])
RAISED = CRM.replace('annual_revenue >= 100000", value: B', 'annual_revenue >= 200000", value: B')


def _world(app, publish):
    from designer.bundles.workspace import current
    from designer.db import transaction
    from designer.records.store import save
    publish(CRM)
    with app.app_context(), transaction(app) as s:
        cur = current(s)
        for values in CASES["records"]:
            save(s, cur, "alice", "customer", values, owner="alice", now=AS_OF, allow_duplicates=True)


def _state(s):
    from designer.models import ClassificationChange, Record
    return ({r.id: (r.computed, r.explain, r.version) for r in s.scalars(select(Record))},
            s.scalar(select(func.count()).select_from(ClassificationChange)))


def _preview(app, source, **kw):
    from designer.bundles.impact import preview
    from designer.bundles.workspace import current
    from designer.db import transaction
    with app.app_context(), transaction(app) as s:
        before = _state(s)
        result = preview(s, current(s), load_bundle_text(source), AS_OF, **kw)
        assert _state(s) == before, "a preview writes nothing"
        titles = {}
        from designer.models import Record
        titles = {r.id: r.title for r in s.scalars(select(Record))}
    json.dumps(result)  # JSON-serialisable as documented
    return result, titles


def test_counts_transitions_and_samples(app, publish):
    _world(app, publish)
    result, titles = _preview(app, RAISED)
    assert result["records"] == len(CASES["records"])
    customer = result["objects"]["customer"]
    assert customer["path"] == "sql" and customer["reason"] is None
    tier = customer["classifications"]["tier"]
    assert tier["status"] == "changed" and tier["label"] == "客户等级"
    assert tier["moved"] == 1
    assert {(e["value"], e["count"]) for e in tier["before"]} == {("A", 2), ("B", 1), ("C", 2)}
    assert {(e["value"], e["count"]) for e in tier["after"]} == {("A", 2), ("C", 3)}
    matrix = {(t["old"], t["new"]): t["count"] for t in tier["transitions"]}
    assert matrix == {("A", "A"): 2, ("B", "C"): 1, ("C", "C"): 2}
    moved = tier["transitions"][0]  # changes come first
    assert (moved["old"], moved["new"]) == ("B", "C")
    (sample,) = moved["samples"]
    assert titles[sample["id"]] == sample["title"] == "乙公司"
    assert sample["explain"]["default"] is True and sample["explain"]["value"] == "C"
    assert sample["explain"]["read"]["annual_revenue"] == 150000
    assert sample["sentence"].startswith("C：")
    tags = customer["classifications"]["tags"]
    assert tags["moved"] == 0 and {(json.dumps(e["value"], ensure_ascii=False), e["count"]) for e in tags["after"]} == {
        ('["复购"]', 2), ('["已流失", "复购"]', 1), ("null", 2)}


def test_samples_are_capped_and_classifications_added_or_removed(app, publish):
    _world(app, publish)
    source = RAISED.replace("  - key: score", "  - key: grade").replace("rules:\n      - {when: \"tier == 'A'\"",
                                                                            "rules:\n      - {when: \"tier != 'A'\"")
    result, _ = _preview(app, source, samples=1)
    classes = result["objects"]["customer"]["classifications"]
    assert classes["score"]["status"] == "removed" and classes["grade"]["status"] == "added"
    assert {(t["old"], t["new"]) for t in classes["score"]["transitions"]} == {(60, None), (65, None), (10, None)}
    assert {(t["old"], t["new"], t["count"]) for t in classes["grade"]["transitions"]} == {(None, 15, 1), (None, 10, 1),
                                                                                          (None, 60, 3)}
    assert all(len(t["samples"]) == 1 for c in classes.values() for t in c["transitions"])


def test_python_fallback_gives_the_same_answer(app, publish):
    from designer.bundles import impact
    from designer.db import transaction
    _world(app, publish)
    result, _ = _preview(app, RAISED)
    bundle = load_bundle_text(RAISED)
    with app.app_context(), transaction(app) as s:
        keys = [c.key for c in bundle.classifications_of("customer")]
        python = impact._python(s, bundle, "customer", keys, AS_OF, 5)
    assert python["records"] == result["records"]
    for k in keys:
        summary = impact._summary(k, "changed", python["pairs"][k])
        sql = result["objects"]["customer"]["classifications"][k]
        assert summary["before"] == sql["before"] and summary["after"] == sql["after"]
        pairs = lambda s: sorted((json.dumps(t["old"]), json.dumps(t["new"]), t["count"],  # noqa: E731
                                  [(x["id"], x["explain"]["value"], x["sentence"]) for x in t["samples"]])
                                 for t in s["transitions"])
        assert pairs(summary) == pairs(sql)


def test_unsupported_expression_is_previewed_in_python_with_the_reason(app, publish):
    _world(app, publish)
    result, _ = _preview(app, RAISED.replace("phone is not empty", "weekday(created_at) >= 1"))
    customer = result["objects"]["customer"]
    assert customer["path"] == "python"
    assert customer["reason"] == "SQL cannot express weekday() in SQL (column 1)"
    assert customer["classifications"]["tier"]["moved"] == 1


def _spy_on_helpers(monkeypatch) -> list[bool]:
    """Ranges and helpers forced on for a few records (two a range); whether each range came back counted by a
    helper."""
    from designer.bundles import bulk, parallel
    monkeypatch.setattr(parallel, "FEW", 0)
    monkeypatch.setattr(bulk, "CHUNK", 2)
    monkeypatch.setattr(bulk, "HELPED_CHUNK", 2)
    counted = []
    chunks = parallel.Helpers.chunks

    def spy(self, sql, params, reduce=None):
        for part in chunks(self, sql, params, reduce):
            counted.append(part is not None)
            yield part
    monkeypatch.setattr(parallel.Helpers, "chunks", spy)
    return counted


@pytest.mark.parametrize("samples", [5, 1])
def test_ranges_counted_here_or_by_helpers_give_the_one_pass_preview(app, publish, monkeypatch, caplog, samples):
    """Id ranges counted by this connection, or by helper processes, and merged give the preview counted in
    one pass: counts, transitions, and the lowest ids as samples."""
    _world(app, publish)
    one_pass, _ = _preview(app, RAISED, samples=samples)
    counted = _spy_on_helpers(monkeypatch)
    assert _preview(app, RAISED, samples=samples)[0] == one_pass
    assert not counted  # no helpers asked for
    reports = []
    assert _preview(app, RAISED, samples=samples, helpers=2, progress=lambda *p: reports.append(p))[0] == one_pass
    assert len(counted) >= 3 and all(counted)
    assert "a helper failed" not in caplog.text
    assert reports == sorted(reports) and reports[-1] == (len(CASES["records"]),) * 2  # ranges as they come


def test_a_failing_helper_leaves_its_ranges_to_the_previews_connection(app, publish, monkeypatch, tmp_path, caplog):
    from designer.bundles import parallel
    _world(app, publish)
    alone, _ = _preview(app, RAISED)
    counted = _spy_on_helpers(monkeypatch)
    monkeypatch.setattr(parallel, "url_of", lambda session: f"sqlite:///{tmp_path / 'empty.db'}")
    assert _preview(app, RAISED, helpers=2)[0] == alone
    assert counted and not any(counted)
    assert "a helper failed, this connection computes the remaining chunks" in caplog.text
