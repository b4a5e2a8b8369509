#!/usr/bin/env python
"""Per-record cost of classifying customers: tierwise against other engines.

One policy (benchmarks/classify_bundle.yaml: three aggregates over a
customer's orders, a first-hit tier, collected tags and a summed score) is
written five ways and run in one process over the same synthetic customers:

  (a) tierwise             the engine in engine/ (skipped while it does not import)
  (b) plain Python         the same policy hand-written: the floor
  (c) zen-engine           a JDM graph: expression node + three decision tables
  (d) rule-engine          compiled Rule objects, a small hit-policy driver
  (e) JsonLogic            panzi-json-logic rules, the same driver

Every engine must give the same tier, tags (in rule order) and score for every
record; any disagreement is printed and the script exits with status 1.

    python benchmarks/classify.py                  # 100,000 customers, best of 3
    python benchmarks/classify.py --quick          # 10,000 customers, 1 repeat
    python benchmarks/classify.py --records 20000 --repeats 5
    python benchmarks/classify.py --quick --only tierwise,zen   # the floor always runs

Inputs are converted to each engine's form once, outside the timed loops. One
untimed pass collects every engine's results for the agreement check; the
timed repeats then call each engine once per record and drop the result (see
time_loop for why results are not kept alive while timing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import random
import statistics
import sys
import textwrap
import time
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Callable
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUNDLE_PATH = HERE / "classify_bundle.yaml"

TZ = ZoneInfo("Asia/Shanghai")
#: The fixed "now" of every run; today() is its date in the bundle's timezone.
AS_OF = dt.datetime(2026, 3, 15, 10, 0, tzinfo=TZ)
TODAY = AS_OF.date()
EPOCH = dt.date(1970, 1, 1)

INDUSTRIES = ["制造业", "教育", "医疗", "互联网", "零售"]
CITIES = ["上海", "北京", "深圳", "广州", "杭州", "成都", "武汉", "西安"]
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

def _money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2).quantize(CENT))


def generate(n: int, seed: int = 42) -> list[dict[str, Any]]:
    """Synthetic customers with orders, as the JSON an API client would send.

    Money is a string with two decimals, dates are ISO strings. Order amounts
    are whole multiples of 0.25, so that float sums (JsonLogic) are exact and
    no threshold can be flipped by binary rounding; annual revenue has any
    cents (it is only ever compared, never added). About 2% of customers get
    orders summing exactly to a spend threshold, and revenue sometimes sits
    exactly on a threshold, so `>=` is tested at the boundary.
    """
    rng = random.Random(seed)
    customers = []
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            revenue = rng.choice([1_000_000, 5_000_000]) * 100
        elif r < 0.12:
            revenue = rng.randrange(5_000_000_00, 50_000_000_00)
        elif r < 0.40:
            revenue = rng.randrange(1_000_000_00, 5_000_000_00)
        else:
            revenue = rng.randrange(50_000_00, 1_000_000_00)
        shift = rng.choice([0, 0, 0, 0, 60, 150, 300, 500])
        typical_quarters = max(400, revenue // 100 // 60 * 4)  # mean order ~ revenue / 60
        orders = []
        if rng.random() < 0.02:
            # a customer whose paid orders of the last year sum exactly to a threshold
            threshold = rng.choice([30_000, 50_000, 80_000, 100_000, 150_000])
            k = rng.choice([2, 4, 5, 8])
            for _ in range(k):
                day = TODAY - dt.timedelta(days=rng.randint(0, 300))
                orders.append({"date": day.isoformat(), "amount": _money(threshold * 100 // k),
                               "status": "paid"})
        else:
            for _ in range(rng.randint(0, 12)):
                day = TODAY - dt.timedelta(days=shift + rng.randint(0, 540))
                quarters = rng.randint(typical_quarters // 5, typical_quarters * 9 // 5)
                orders.append({"date": day.isoformat(), "amount": _money(quarters * 25),
                               "status": "paid" if rng.random() < 0.88 else "refunded"})
        customers.append({
            "id": f"C{i:06d}",
            "name": f"客户{i:06d}",
            "annual_revenue": _money(revenue),
            "industry": rng.choice(INDUSTRIES),
            "employees": int(10 ** rng.uniform(0.3, 4.0)),
            "city": rng.choice(CITIES),
            "signed_on": (TODAY - dt.timedelta(days=rng.randint(0, 5 * 365))).isoformat(),
            "vip": rng.random() < 0.15,
            "order": orders,
        })
    return customers


def day_number(iso: str | None) -> int | None:
    """Days since 1970-01-01: the date form given to engines without date types."""
    if iso is None:
        return None
    return (dt.date.fromisoformat(iso) - EPOCH).days


# ---------------------------------------------------------------------------
# (b) plain Python: the floor
# ---------------------------------------------------------------------------

def plain_inputs(raw: list[dict]) -> list[dict]:
    """Typed records as tierwise has them: Decimal money, datetime.date dates."""
    return [{
        "annual_revenue": Decimal(c["annual_revenue"]),
        "industry": c["industry"],
        "employees": c["employees"],
        "city": c["city"],
        "signed_on": dt.date.fromisoformat(c["signed_on"]),
        "vip": c["vip"],
        "order": [{"date": dt.date.fromisoformat(o["date"]), "amount": Decimal(o["amount"]),
                   "status": o["status"]} for o in c["order"]],
    } for c in raw]


FOCUS_INDUSTRIES = ("制造业", "医疗")
TIER1_CITIES = ("上海", "北京", "深圳", "广州")


def classify_plain(c: dict, today: dt.date) -> dict:
    """The policy of classify_bundle.yaml, written by hand."""
    cutoff = today - dt.timedelta(days=365)
    spend = Decimal(0)
    count = 0
    last = None
    for o in c["order"]:
        if o["status"] != "paid":
            continue
        if o["date"] > cutoff:
            spend += o["amount"]
            count += 1
        if last is None or o["date"] > last:
            last = o["date"]
    # days since the last paid order; None when there is none (never holds a comparison)
    days = (today - last).days if last is not None else None
    revenue = c["annual_revenue"]

    if spend >= 150000 and count >= 6 and days is not None and days <= 30:
        tier = "S"
    elif spend >= 80000 or (revenue >= 5000000 and days is not None and days <= 90):
        tier = "A"
    elif spend >= 30000 and c["industry"] in FOCUS_INDUSTRIES:
        tier = "B"
    elif revenue >= 1000000 and days is not None and days <= 180:
        tier = "B"
    elif count >= 2 or (days is not None and days <= 365):
        tier = "C"
    else:
        tier = "D"

    tags = []
    if revenue >= 5000000:
        tags.append("大客户")
    if spend >= 50000:
        tags.append("高价值")
    if count >= 8:
        tags.append("高频")
    if days is not None and days > 180:
        tags.append("沉睡")
    if (today - c["signed_on"]).days <= 90:
        tags.append("新签约")
    if c["city"] in TIER1_CITIES:
        tags.append("一线城市")

    score = 50
    if spend >= 100000:
        score += 20
    if count >= 6:
        score += 10
    if days is not None and days <= 60:
        score += 10
    if c["vip"]:
        score += 5
    if days is not None and days > 365:
        score -= 15
    if count == 0:
        score -= 10
    if c["employees"] < 20:
        score -= 5

    return {"spend_12m": spend, "orders_12m": count, "last_order_at": last,
            "tier": tier, "tags": tags, "score": score}


def setup_plain(raw: list[dict]):
    inputs = plain_inputs(raw)
    today = TODAY

    def one(c):
        return classify_plain(c, today)

    def norm(r):
        return r["tier"], tuple(r["tags"]), int(r["score"])

    return inputs, one, norm


# ---------------------------------------------------------------------------
# (a) tierwise
# ---------------------------------------------------------------------------

def tierwise_available() -> str | None:
    """None when engine.load_bundle imports, else why not."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from engine import load_bundle  # noqa: F401
    except Exception as exc:  # any failure: the engine is still being written
        return f"{type(exc).__name__}: {exc}"
    return None


def _tierwise_raw(c: dict) -> dict:
    """The JSON form tierwise coerces: the generator's form as is (`id` is a system attribute)."""
    return c


def _tierwise_norm(r):
    v = r.values
    tags = v.get("tags") or []
    return v.get("tier"), tuple(tags), int(v.get("score"))


_TIERWISE_CACHE: dict[int, tuple[Any, list]] = {}


def _tierwise_prepare(raw: list[dict]):
    """Load and compile the bundle, coerce every record (once for both tierwise rows)."""
    if id(raw) not in _TIERWISE_CACHE:
        from engine import load_bundle
        bundle = load_bundle(str(BUNDLE_PATH))
        clf = bundle.classifier("customer")
        _TIERWISE_CACHE[id(raw)] = clf, [clf.coerce(_tierwise_raw(c)) for c in raw]
    return _TIERWISE_CACHE[id(raw)]


def setup_tierwise(raw: list[dict]):
    clf, inputs = _tierwise_prepare(raw)
    as_of = AS_OF

    classify = clf.classify

    def one(rec):
        return classify(rec, as_of)

    return inputs, one, _tierwise_norm


def setup_tierwise_explain(raw: list[dict]):
    clf, inputs = _tierwise_prepare(raw)
    as_of = AS_OF

    classify = clf.classify

    def one(rec):
        res = classify(rec, as_of)
        res.explain()
        return res

    return inputs, one, _tierwise_norm


# ---------------------------------------------------------------------------
# (c) GoRules zen-engine
# ---------------------------------------------------------------------------

def _zen_recency(op: str, days: int) -> str:
    # a null last_order_at never matches (SPEC §3.3); zen errors on null < number
    return f"last_order_at != null and today - last_order_at {op} {days}"


def zen_graph() -> dict:
    """The policy as a JDM decision graph.

    request -> aggregates (expression node) -> tier (first) -> tags (collect)
            -> score (collect) -> result (expression node) -> response

    Dates are day numbers and `today` is an input, so `date > today() - 365d`
    is `#.date > today - 365` and days_since(d) is `today - d`.
    """
    pos = {"x": 0, "y": 0}

    def table(node_id, name, hit, inputs, output, rows, output_path=None):
        cols = [{"id": f"{node_id}_i{j}", "name": label, **({"field": field} if field else {})}
                for j, (label, field) in enumerate(inputs)]
        out_id = f"{node_id}_o"
        rules = []
        for k, (cells, value) in enumerate(rows):
            rule = {"_id": f"{node_id}_r{k}"}
            for j in range(len(inputs)):
                rule[f"{node_id}_i{j}"] = cells.get(inputs[j][0], "")
            rule[out_id] = value
            rules.append(rule)
        return {"id": node_id, "type": "decisionTableNode", "name": name, "position": pos,
                "content": {"hitPolicy": hit, "inputs": cols,
                            "outputs": [{"id": out_id, "name": output, "field": output}],
                            "rules": rules, "passThrough": True, "inputField": None,
                            "outputPath": output_path, "executionMode": "single"}}

    def expressions(node_id, name, pairs, pass_through):
        return {"id": node_id, "type": "expressionNode", "name": name, "position": pos,
                "content": {"expressions": [{"id": f"{node_id}_{k}", "key": key, "value": value}
                                            for k, (key, value) in enumerate(pairs)],
                            "passThrough": pass_through, "inputField": None, "outputPath": None,
                            "executionMode": "single"}}

    paid_12m = "filter(order, #.status == 'paid' and #.date > today - 365)"
    aggregates = expressions("agg", "aggregates", [
        ("spend_12m", f"sum(map({paid_12m}, #.amount))"),
        ("orders_12m", "count(order, #.status == 'paid' and #.date > today - 365)"),
        ("paid_dates", "map(filter(order, #.status == 'paid'), #.date)"),
        ("last_order_at", "len($.paid_dates) > 0 ? max($.paid_dates) : null"),
    ], pass_through=True)

    spend, orders, revenue = ("spend", "spend_12m"), ("orders", "orders_12m"), ("revenue", "annual_revenue")
    recency = ("recency", None)  # expression column: null-safe
    tier = table("tier", "tier", "first",
                 [spend, orders, revenue, ("industry", "industry"), recency], "tier", [
                     ({"spend": ">= 150000", "orders": ">= 6", "recency": _zen_recency("<=", 30)}, "'S'"),
                     ({"spend": ">= 80000"}, "'A'"),
                     ({"revenue": ">= 5000000", "recency": _zen_recency("<=", 90)}, "'A'"),
                     ({"spend": ">= 30000", "industry": "'制造业', '医疗'"}, "'B'"),
                     ({"revenue": ">= 1000000", "recency": _zen_recency("<=", 180)}, "'B'"),
                     ({"orders": ">= 2"}, "'C'"),
                     ({"recency": _zen_recency("<=", 365)}, "'C'"),
                     ({}, "'D'"),
                 ])
    tags = table("tags", "tags", "collect",
                 [revenue, spend, orders, recency, ("signed", None), ("city", "city")], "tag", [
                     ({"revenue": ">= 5000000"}, "'大客户'"),
                     ({"spend": ">= 50000"}, "'高价值'"),
                     ({"orders": ">= 8"}, "'高频'"),
                     ({"recency": _zen_recency(">", 180)}, "'沉睡'"),
                     ({"signed": "today - signed_on <= 90"}, "'新签约'"),
                     ({"city": "'上海', '北京', '深圳', '广州'"}, "'一线城市'"),
                 ], output_path="tag_rows")
    score = table("score", "score", "collect",
                  [spend, orders, recency, ("vip", "vip"), ("employees", "employees")], "points", [
                      ({"spend": ">= 100000"}, "20"),
                      ({"orders": ">= 6"}, "10"),
                      ({"recency": _zen_recency("<=", 60)}, "10"),
                      ({"vip": "true"}, "5"),
                      ({"recency": _zen_recency(">", 365)}, "-15"),
                      ({"orders": "0"}, "-10"),
                      ({"employees": "< 20"}, "-5"),
                  ], output_path="score_rows")
    result = expressions("result", "result", [
        ("tier", "tier"),
        ("tags", "map(tag_rows, #.tag)"),
        ("score", "50 + sum(map(score_rows, #.points))"),
    ], pass_through=False)
    nodes = [{"id": "request", "type": "inputNode", "name": "request", "position": pos,
              "content": {"schema": ""}},
             aggregates, tier, tags, score, result,
             {"id": "response", "type": "outputNode", "name": "response", "position": pos,
              "content": {"schema": ""}}]
    chain = [n["id"] for n in nodes]
    edges = [{"id": f"e{k}", "sourceId": a, "targetId": b, "type": "edge"}
             for k, (a, b) in enumerate(zip(chain, chain[1:]))]
    return {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}


def zen_inputs(raw: list[dict]) -> list[dict]:
    today = day_number(TODAY.isoformat())
    return [{
        "today": today,
        "annual_revenue": float(c["annual_revenue"]),
        "industry": c["industry"],
        "employees": c["employees"],
        "city": c["city"],
        "signed_on": day_number(c["signed_on"]),
        "vip": c["vip"],
        "order": [{"date": day_number(o["date"]), "amount": float(o["amount"]), "status": o["status"]}
                  for o in c["order"]],
    } for c in raw]


ZEN_APIS = {
    # key: how the decision is evaluated per record
    "engine.evaluate(dict)": "ZenEngine(static loader).evaluate(key, dict)",
    "engine.evaluate(json)": "ZenEngine(static loader).evaluate(key, JSON text)",
    "decision.evaluate(dict)": "engine.create_decision(content).evaluate(dict)",
}


def setup_zen(raw: list[dict], api: str = "engine.evaluate(dict)"):
    import zen
    graph = zen_graph()
    inputs = zen_inputs(raw)
    if api.endswith("(json)"):
        inputs = [json.dumps(x, ensure_ascii=False) for x in inputs]
    if api.startswith("decision."):
        decision = zen.ZenEngine().create_decision(json.dumps(graph, ensure_ascii=False))

        evaluate = decision.evaluate

        def one(x):
            return evaluate(x)["result"]
    else:
        # the engine keeps the decision it loaded (once) from its static loader
        engine = zen.ZenEngine({"loader": {"type": "static", "content": {"policy": graph}}})
        engine.evaluate("policy", inputs[0] if inputs else {})

        evaluate_key = engine.evaluate

        def one(x):
            return evaluate_key("policy", x)["result"]

    def norm(r):
        return r["tier"], tuple(r["tags"]), int(r["score"])

    return inputs, one, norm


# ---------------------------------------------------------------------------
# (d) rule-engine and (e) JsonLogic: rules plus a hit-policy driver
# ---------------------------------------------------------------------------

def make_driver(aggregates, tier_rules, tier_default, tag_rules, score_rules, score_base, holds, value):
    """Apply the three hit policies over compiled rules of any engine.

    `holds(rule, data)` says whether a rule holds; `value(rule, data)` evaluates
    an aggregate. The aggregates are stored into the record's dict (the record
    is the engine's evaluation context), then the classifications read them.
    """
    def classify(data):
        for key, rule in aggregates:
            data[key] = value(rule, data)
        tier = tier_default
        for rule, v in tier_rules:
            if holds(rule, data):
                tier = v
                break
        tags = [v for rule, v in tag_rules if holds(rule, data)]
        score = score_base
        for rule, points in score_rules:
            if holds(rule, data):
                score += points
        return tier, tags, score
    return classify


def _driver_norm(r):
    tier, tags, score = r
    return tier, tuple(tags), int(score)


def _ddl_inputs(raw: list[dict], money: Callable[[str], Any]) -> list[dict]:
    """Day-number dates, money via `money`, `today` as a day number."""
    today = day_number(TODAY.isoformat())
    return [{
        "today": today,
        "annual_revenue": money(c["annual_revenue"]),
        "industry": c["industry"],
        "employees": c["employees"],
        "city": c["city"],
        "signed_on": day_number(c["signed_on"]),
        "vip": c["vip"],
        "orders": [{"date": day_number(o["date"]), "amount": money(o["amount"]), "status": o["status"]}
                   for o in c["order"]],
    } for c in raw]


def _re_recency(op: str, days: int) -> str:
    return f"(last_order_at != null and today - last_order_at {op} {days})"


RULE_ENGINE_POLICY = {
    "aggregates": [
        ("spend_12m", "$sum([o['amount'] for o in orders if o['status'] == 'paid' and o['date'] > today - 365])"),
        ("orders_12m", "[o for o in orders if o['status'] == 'paid' and o['date'] > today - 365].length"),
        # $max fails on an empty array, hence the guard
        ("last_order_at", "[o for o in orders if o['status'] == 'paid'] "
                          "? $max([o['date'] for o in orders if o['status'] == 'paid']) : null"),
    ],
    "tier": [
        ("spend_12m >= 150000 and orders_12m >= 6 and " + _re_recency("<=", 30), "S"),
        ("spend_12m >= 80000 or (annual_revenue >= 5000000 and " + _re_recency("<=", 90) + ")", "A"),
        ("spend_12m >= 30000 and industry in ['制造业', '医疗']", "B"),
        ("annual_revenue >= 1000000 and " + _re_recency("<=", 180), "B"),
        ("orders_12m >= 2 or " + _re_recency("<=", 365), "C"),
    ],
    "tags": [
        ("annual_revenue >= 5000000", "大客户"),
        ("spend_12m >= 50000", "高价值"),
        ("orders_12m >= 8", "高频"),
        (_re_recency(">", 180), "沉睡"),
        ("today - signed_on <= 90", "新签约"),
        ("city in ['上海', '北京', '深圳', '广州']", "一线城市"),
    ],
    "score": [
        ("spend_12m >= 100000", 20),
        ("orders_12m >= 6", 10),
        (_re_recency("<=", 60), 10),
        ("vip", 5),
        (_re_recency(">", 365), -15),
        ("orders_12m == 0", -10),
        ("employees < 20", -5),
    ],
}


def setup_rule_engine(raw: list[dict]):
    import rule_engine
    ctx = rule_engine.Context(default_timezone=TZ)
    p = RULE_ENGINE_POLICY

    def compile_(src):
        return rule_engine.Rule(src, context=ctx)

    classify = make_driver(
        [(k, compile_(s)) for k, s in p["aggregates"]],
        [(compile_(s), v) for s, v in p["tier"]], "D",
        [(compile_(s), v) for s, v in p["tags"]],
        [(compile_(s), v) for s, v in p["score"]], 50,
        holds=lambda rule, data: rule.matches(data),
        value=lambda rule, data: rule.evaluate(data),
    )
    # rule-engine computes with Decimal itself: give it Decimal money
    inputs = _ddl_inputs(raw, Decimal)

    return inputs, classify, _driver_norm


def _var(name):
    return {"var": name}


def _jl_recency(op: str, days: int) -> dict:
    return {"and": [{"!=": [_var("last_order_at"), None]},
                    {op: [{"-": [_var("today"), _var("last_order_at")]}, days]}]}


def jsonlogic_policy(today_day: int) -> dict:
    """The policy as JsonLogic.

    JsonLogic's filter/reduce run their predicate with the array item as the
    only data, so the predicate cannot read `today`: the 365-day cut-off day
    number is written into the rule when the rules are built (once per run).
    """
    cutoff = today_day - 365
    paid = {"==": [_var("status"), "paid"]}
    paid_12m = {"filter": [_var("orders"), {"and": [paid, {">": [_var("date"), cutoff]}]}]}
    return {
        "aggregates": [
            ("spend_12m", {"reduce": [paid_12m, {"+": [_var("accumulator"), _var("current.amount")]}, 0]}),
            ("orders_12m", {"reduce": [paid_12m, {"+": [_var("accumulator"), 1]}, 0]}),
            ("last_order_at", {"reduce": [
                {"map": [{"filter": [_var("orders"), paid]}, _var("date")]},
                {"if": [{"or": [{"==": [_var("accumulator"), None]},
                                {">": [_var("current"), _var("accumulator")]}]},
                        _var("current"), _var("accumulator")]},
                None]}),
        ],
        "tier": [
            ({"and": [{">=": [_var("spend_12m"), 150000]}, {">=": [_var("orders_12m"), 6]},
                      _jl_recency("<=", 30)]}, "S"),
            ({"or": [{">=": [_var("spend_12m"), 80000]},
                     {"and": [{">=": [_var("annual_revenue"), 5000000]}, _jl_recency("<=", 90)]}]}, "A"),
            ({"and": [{">=": [_var("spend_12m"), 30000]}, {"in": [_var("industry"), ["制造业", "医疗"]]}]}, "B"),
            ({"and": [{">=": [_var("annual_revenue"), 1000000]}, _jl_recency("<=", 180)]}, "B"),
            ({"or": [{">=": [_var("orders_12m"), 2]}, _jl_recency("<=", 365)]}, "C"),
        ],
        "tags": [
            ({">=": [_var("annual_revenue"), 5000000]}, "大客户"),
            ({">=": [_var("spend_12m"), 50000]}, "高价值"),
            ({">=": [_var("orders_12m"), 8]}, "高频"),
            (_jl_recency(">", 180), "沉睡"),
            ({"<=": [{"-": [_var("today"), _var("signed_on")]}, 90]}, "新签约"),
            ({"in": [_var("city"), ["上海", "北京", "深圳", "广州"]]}, "一线城市"),
        ],
        "score": [
            ({">=": [_var("spend_12m"), 100000]}, 20),
            ({">=": [_var("orders_12m"), 6]}, 10),
            (_jl_recency("<=", 60), 10),
            (_var("vip"), 5),
            (_jl_recency(">", 365), -15),
            ({"==": [_var("orders_12m"), 0]}, -10),
            ({"<": [_var("employees"), 20]}, -5),
        ],
    }


def setup_jsonlogic(raw: list[dict]):
    from json_logic import jsonLogic
    from json_logic.builtins import to_bool
    p = jsonlogic_policy(day_number(TODAY.isoformat()))
    classify = make_driver(
        p["aggregates"], p["tier"], "D", p["tags"], p["score"], 50,
        holds=lambda rule, data: to_bool(jsonLogic(rule, data)),
        value=lambda rule, data: jsonLogic(rule, data),
    )
    inputs = _ddl_inputs(raw, float)  # JSON numbers; amounts are multiples of 0.25, so sums are exact

    return inputs, classify, _driver_norm


# ---------------------------------------------------------------------------
# 500-rule bundle: load + compile
# ---------------------------------------------------------------------------

def big_bundle_text(n_classifications: int = 5, rules_each: int = 100) -> str:
    """The benchmark bundle's objects plus generated classifications of many rules."""
    text = BUNDLE_PATH.read_text(encoding="utf-8")
    head = text.split("\nclassifications:", 1)[0]
    lines = [head.rstrip(), "", "classifications:"]
    hits = ["first", "collect", "sum", "first", "sum"]
    for c in range(n_classifications):
        hit = hits[c % len(hits)]
        lines += [f"  - key: gen{c}", "    object: customer", f"    label: 生成分类{c}", f"    hit: {hit}"]
        if hit == "sum":
            lines.append("    base: 0")
        lines.append("    rules:")
        for r in range(rules_each):
            k = c * rules_each + r
            when = [
                f"spend_12m >= {1000 * (k % 97)} and orders_12m >= {k % 7}",
                f"annual_revenue >= {50000 * (k % 89)} or days_since(last_order_at) <= {k % 400}",
                f"industry in ['{INDUSTRIES[k % 5]}', '{INDUSTRIES[(k + 2) % 5]}'] and employees > {k % 300}",
                f"days_since(signed_on) > {k % 1000} and vip",
                f"count(order where status == 'paid' and amount > {100 * (k % 50)}) >= {k % 4}",
            ][k % 5]
            if hit == "sum":
                lines.append(f"      - {{when: \"{when}\", points: {(k % 21) - 10}}}")
            else:
                lines.append(f"      - {{when: \"{when}\", value: v{k % 37}}}")
        if hit == "first":
            lines.append("    default: none")
    return "\n".join(lines) + "\n"


def time_big_bundle(repeats: int) -> dict:
    from engine import load_bundle_text
    text = big_bundle_text()
    times = []
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        bundle = load_bundle_text(text, filename="generated-500.yaml")
        bundle.classifier("customer")
        times.append(time.perf_counter() - t0)
    return {"rules": 500, "bytes": len(text.encode()), "first_s": times[0], "best_s": min(times),
            "median_s": statistics.median(times)}


# ---------------------------------------------------------------------------
# Harness
# ---------------------------------------------------------------------------

ENGINES: list[tuple[str, str, Callable]] = [
    # (key, label, setup)
    ("tierwise", "(a) tierwise", setup_tierwise),
    ("tierwise_explain", "(a) tierwise + explanation", setup_tierwise_explain),
    ("plain", "(b) plain Python (floor)", setup_plain),
    ("zen", "(c) zen-engine", setup_zen),
    ("rule_engine", "(d) rule-engine", setup_rule_engine),
    ("jsonlogic", "(e) JsonLogic (panzi)", setup_jsonlogic),
]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def time_loop(one: Callable, inputs: list) -> float:
    """Seconds to classify every input, each result dropped as soon as it is made.

    A batch job writes results out as it goes. Keeping 100,000 results alive
    instead makes CPython's cyclic GC rescan an ever larger heap, which charges
    each engine for how many container objects its results hold rather than
    for classifying (it tripled tierwise's time, doubled the floor's).
    """
    t0 = time.perf_counter()
    for x in inputs:
        one(x)
    return time.perf_counter() - t0


def pick_zen_api(raw: list[dict]) -> tuple[str, dict]:
    """Time zen's evaluation APIs on a sample; the table uses the fastest."""
    sample = raw[: min(len(raw), 3000)]
    timing = {}
    for api in ZEN_APIS:
        inputs, one, _ = setup_zen(sample, api)
        time_loop(one, inputs[:200])  # warm up
        best = min(time_loop(one, inputs) for _ in range(2))
        timing[api] = best / len(sample) * 1e6
    return min(timing, key=timing.get), timing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, help="customers to classify (default 100000; 10000 with --quick)")
    ap.add_argument("--repeats", type=int, help="timed repeats, best kept (default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="10,000 records, 1 repeat")
    ap.add_argument("--show", type=int, default=5, help="disagreeing records to print in full")
    ap.add_argument("--only", help="comma-separated engine keys to run besides the floor: "
                    + ", ".join(k for k, _, _ in ENGINES if k != "plain"))
    args = ap.parse_args(argv)
    n = args.records or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)

    print(f"tierwise classification benchmark: {n:,} customers, best of {repeats}, as of {AS_OF.isoformat()}")
    print(f"Python {platform.python_version()} on {platform.machine()} {platform.system()}; "
          f"zen-engine {_version('zen-engine')}, rule-engine {_version('rule-engine')}, "
          f"panzi-json-logic {_version('panzi-json-logic')}")

    t0 = time.perf_counter()
    raw = generate(n)
    n_orders = sum(len(c["order"]) for c in raw)
    print(f"generated in {time.perf_counter() - t0:.1f}s: {n_orders:,} orders "
          f"({n_orders / n:.2f} per customer)")

    why_not = tierwise_available()
    if why_not:
        print(f"tierwise: skipped, `from engine import load_bundle` fails ({why_not})")

    only = set(args.only.split(",")) if args.only else None
    zen_api, zen_timing = "engine.evaluate(dict)", {}
    if only is None or "zen" in only:
        zen_api, zen_timing = pick_zen_api(raw[:3000])
        print("zen-engine APIs on a sample: " + ", ".join(f"{k} {v:.1f} µs" for k, v in zen_timing.items())
              + f" -> using {zen_api}")

    prepared = {}
    skipped = {}
    failed = []  # engines that import but fail: the run fails too
    for key, label, setup in ENGINES:
        if only is not None and key != "plain" and key not in only:
            skipped[key] = "not selected (--only)"
            continue
        if key.startswith("tierwise") and why_not:
            skipped[key] = "engine/ not importable yet"
            continue
        t0 = time.perf_counter()
        try:
            inputs, one, norm = setup(raw, zen_api) if key == "zen" else setup(raw)
        except Exception as exc:
            if key.startswith("tierwise"):
                skipped[key] = f"setup failed: {type(exc).__name__}: {exc}"
                failed.append(key)
                print(f"{label}: {skipped[key]}")
                continue
            raise
        prepared[key] = {"label": label, "inputs": inputs, "one": one, "norm": norm,
                         "setup_s": time.perf_counter() - t0, "times": [], "results": None}

    # untimed pass: every engine's result for every record (this also warms them up)
    tierwise_formulas = []  # (spend_12m, orders_12m, last_order_at) per record
    for key, e in list(prepared.items()):
        one, norm = e["one"], e["norm"]
        results = []
        for i, x in enumerate(e["inputs"]):
            try:
                r = one(x)
            except Exception as exc:
                if not key.startswith("tierwise"):
                    raise
                skipped[key] = f"classify failed on record {i} ({raw[i]['id']}): {type(exc).__name__}: {exc}"
                failed.append(key)
                print(f"{e['label']}: {skipped[key]}\n    {json.dumps(raw[i], ensure_ascii=False)}")
                del prepared[key]
                break
            results.append(norm(r))
            if key == "tierwise":
                v = r.values
                tierwise_formulas.append((v.get("spend_12m"), v.get("orders_12m"), v.get("last_order_at")))
        else:
            e["results"] = results

    # timed repeats, round-robin so that drift of the machine hits every engine alike
    for rep in range(repeats):
        for e in prepared.values():
            gc.collect()
            e["times"].append(time_loop(e["one"], e["inputs"]))
        print(f"repeat {rep + 1}/{repeats}: " + ", ".join(
            f"{k} {e['times'][-1]:.2f}s" for k, e in prepared.items()))

    # --- correctness -------------------------------------------------------
    floor = prepared["plain"]["results"]
    disagreements = {}
    for key, e in prepared.items():
        if key == "plain":
            continue
        bad = [i for i, (a, b) in enumerate(zip(e["results"], floor)) if a != b]
        disagreements[key] = bad
    # tierwise's formulas against the floor's aggregates too
    formula_bad = []
    if "tierwise" in prepared:
        today = TODAY
        for i, (got, c) in enumerate(zip(tierwise_formulas, prepared["plain"]["inputs"])):
            exp = classify_plain(c, today)
            want = (exp["spend_12m"], exp["orders_12m"], exp["last_order_at"])
            if got != want:
                formula_bad.append((i, got, want))

    # --- report ------------------------------------------------------------
    base = min(prepared["plain"]["times"]) / n * 1e6
    notes = {
        "tierwise": ("tierwise", "load_bundle() + classifier() once; clf.coerce(raw) for every record "
                     "outside the loop; clf.classify(record, as_of) timed. The explanation row also "
                     "calls res.explain() on every result. Aggregates and days_since computed by the "
                     "engine from the order list (Decimal money, date objects)."),
        "plain": ("plain", "The policy hand-written in Python: one pass over the orders, Decimal money, "
                  "datetime.date dates, as tierwise."),
        "zen": ("zen", "JDM graph: expression node (filter/map/sum/count/max over the order list) -> "
                "decision tables tier (first), tags and score (collect) -> expression node (tag list, "
                f"50 + sum of points). Evaluated with {ZEN_APIS.get(zen_api)} per record, the fastest "
                "of zen's APIs on a 3,000-record sample ("
                + "; ".join(f"{k} {v:.0f} µs" for k, v in zen_timing.items())
                + "). Money as float (zen computes in decimal). Precomputed: dates are day numbers "
                "and `today` is an input, so `date > today() - 365d` is `#.date > today - 365` and "
                "days_since(d) is `today - d`, computed by zen."),
        "rule_engine": ("rule_engine", "One compiled Rule per aggregate and per rule; aggregates are "
                        "comprehensions over the orders ($sum, .length, $max); a small Python loop "
                        "applies first/collect/sum and stores the aggregates in the record's dict. "
                        "Decimal money. Precomputed: dates as day numbers, `today` an input "
                        "(rule-engine has datetimes, but $max rejects them)."),
        "jsonlogic": ("jsonlogic", "One JsonLogic rule per aggregate and per rule (filter/reduce/map), "
                      "the same Python loop. Float money (amounts are multiples of 0.25, so float sums "
                      "are exact). Precomputed: dates as day numbers, `today` an input; a filter "
                      "predicate sees only the array item, so the 365-day cut-off day number is "
                      "written into the rules when they are built (once per run)."),
    }
    shown = [k for k in ("tierwise", "plain", "zen", "rule_engine", "jsonlogic")
             if k in prepared or (k == "tierwise" and "tierwise_explain" in prepared)]
    mark = {k: str(i + 1) for i, k in enumerate(shown)}
    mark["tierwise_explain"] = mark.get("tierwise", "")

    print()
    print(f"{'engine':<34} {'µs/record':>10} {'× (b)':>7} {'setup s':>8} {'disagree':>9}")
    print("-" * 72)
    for key, label, _ in ENGINES:
        if key in skipped:
            print(f"{label:<34} {'—':>10} {'—':>7} {'—':>8} {'—':>9}   skipped: {skipped[key]}")
            continue
        e = prepared[key]
        us = min(e["times"]) / n * 1e6
        dis = "—" if key == "plain" else str(len(disagreements[key]))
        setup_s = "(a)" if key == "tierwise_explain" and "tierwise" in prepared else f"{e['setup_s']:.2f}"
        print(f"{label + ' [' + mark[key] + ']':<34} {us:>10.1f} {us / base:>7.2f} "
              f"{setup_s:>8} {dis:>9}")
    print("-" * 72)
    wrap = textwrap.TextWrapper(width=100, subsequent_indent="    ")
    print(wrap.fill("µs/record: wall time of the best repeat over the whole list / records; each "
                    "result is dropped as it is made (results are collected in a separate untimed pass "
                    "for the agreement check). setup: "
                    "compile + converting the inputs to the engine's form (once, untimed in µs/record). "
                    "disagree: records whose tier, tags (in rule order) or score differ from (b)."))
    for k in shown:
        print(wrap.fill(f"[{mark[k]}] {notes[k][1]}"))

    if why_not is None and (only is None or "tierwise" in only):
        big = time_big_bundle(repeats)
        print()
        print(f"tierwise 500-rule bundle (5 classifications × 100 rules, {big['bytes']:,} bytes): "
              f"load_bundle_text + classifier(): first {big['first_s'] * 1000:.1f} ms, "
              f"best {big['best_s'] * 1000:.1f} ms, median {big['median_s'] * 1000:.1f} ms")
    else:
        print("\ntierwise 500-rule bundle load: skipped"
              + (" (engine/ not importable yet)" if why_not else " (not selected)"))

    # distribution, so the policy is visibly exercised
    tiers = {}
    for t, _, _ in floor:
        tiers[t] = tiers.get(t, 0) + 1
    print("\ntier distribution (floor): " + ", ".join(f"{t} {tiers.get(t, 0):,}" for t in "SABCD"))

    total_bad = sum(len(v) for v in disagreements.values()) + len(formula_bad)
    print()
    for key, bad in disagreements.items():
        print(f"disagreements with (b) — {prepared[key]['label']}: {len(bad)}")
        for i in bad[: args.show]:
            print(f"  record {i} ({raw[i]['id']}): got {prepared[key]['results'][i]}, floor {floor[i]}")
            print(f"    {json.dumps(raw[i], ensure_ascii=False)}")
            if key == "tierwise":
                res = prepared["tierwise"]["one"](prepared["tierwise"]["inputs"][i])
                floor_full = classify_plain(plain_inputs([raw[i]])[0], TODAY)
                print(f"    tierwise values: {res.values!r}")
                print(f"    floor values:    {floor_full!r}")
                try:
                    print(f"    tierwise explanation: {res.explain()!r}")
                except Exception as exc:
                    print(f"    tierwise explanation failed: {type(exc).__name__}: {exc}")
    if "tierwise" in prepared:
        print(f"formula disagreements (tierwise spend_12m, orders_12m, last_order_at vs floor): {len(formula_bad)}")
        for i, got, want in formula_bad[: args.show]:
            print(f"  record {i} ({raw[i]['id']}): got {got!r}, floor {want!r}")
    print(f"total disagreements: {total_bad}")
    if failed:
        print("engines that failed: " + ", ".join(failed))
    return 1 if total_bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
