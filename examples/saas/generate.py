#!/usr/bin/env python3
"""Generate demo data for the SaaS customer success template.

Deterministic (fixed seed), standard library only. Writes customers.jsonl next
to this file: one tenant per line with its input fields, the system
attributes `owner` and `created_at`, and its child records under
`subscription`, `usage` and `ticket`. Formula fields, the autonumber and
classifications are left to the engine.

Each account is drawn from a target (tier by ARR x renewal risk) and its usage,
NPS, tickets and contract dates are shaped to match, so that every tier and
every renewal risk level occurs when classified as of 2026-11-01.

    python3 examples/saas/generate.py
"""
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # examples/, home of sample_data
from sample_data import AS_OF, USERS, WINDOW_START, SampleRandom, write_customers

SEED = 20261105
OUT = Path(__file__).resolve().parent / "customers.jsonl"

rng = SampleRandom(SEED, hours=(9, 19), minutes=[0, 5, 10, 20, 30, 40, 50])

PRICE = {"基础版": 360, "专业版": 720, "企业版": 1200, "旗舰版": 1800}     # per seat per year
MODULES = ["CRM", "工单", "营销自动化", "BI报表", "开放API", "单点登录"]
INDUSTRIES = ["互联网", "制造业", "零售电商", "教育培训", "金融", "医疗健康", "物流"]
CITIES = [("广东省", "深圳市", ["南山区", "福田区", "宝安区", "龙华区"]), ("广东省", "广州市", ["天河区", "海珠区", "黄埔区"]),
          ("上海市", "上海市", ["浦东新区", "徐汇区", "闵行区"]), ("北京市", "北京市", ["海淀区", "朝阳区", "昌平区"]),
          ("浙江省", "杭州市", ["西湖区", "滨江区", "余杭区"]), ("江苏省", "苏州市", ["工业园区", "姑苏区", "吴中区"]),
          ("四川省", "成都市", ["高新区", "武侯区"]), ("湖北省", "武汉市", ["洪山区", "江夏区"]),
          ("福建省", "厦门市", ["思明区", "湖里区"]), ("湖南省", "长沙市", ["岳麓区", "雨花区"])]
BRANDS = ["云帆", "数联", "智汇", "星河", "蓝鲸", "极光", "优客", "易达", "青橙", "聚合", "微风", "拓扑", "火花",
          "森林", "锐思", "小满", "原点", "乐享", "百川", "方圆", "驿站", "时代", "万象", "嘉禾", "远山", "晨曦"]
BRAND_PY = {"云帆": "yunfan", "数联": "shulian", "智汇": "zhihui", "星河": "xinghe", "蓝鲸": "lanjing", "极光": "jiguang",
            "优客": "youke", "易达": "yida", "青橙": "qingcheng", "聚合": "juhe", "微风": "weifeng", "拓扑": "tuopu",
            "火花": "huohua", "森林": "senlin", "锐思": "ruisi", "小满": "xiaoman", "原点": "yuandian", "乐享": "lexiang",
            "百川": "baichuan", "方圆": "fangyuan", "驿站": "yizhan", "时代": "shidai", "万象": "wanxiang",
            "嘉禾": "jiahe", "远山": "yuanshan", "晨曦": "chenxi"}
TRADE_WORDS = {"互联网": ["网络科技", "信息技术"], "制造业": ["智能制造", "精密机械"], "零售电商": ["电子商务", "商贸"],
               "教育培训": ["教育科技", "文化传播"], "金融": ["金融信息服务", "融资租赁"],
               "医疗健康": ["医疗科技", "健康管理"], "物流": ["供应链管理", "物流"]}
CHURN_REASONS = ["预算削减，明年改用免费工具", "被集团统一采购的竞品替代", "核心使用部门负责人离职，推动不下去",
                 "认为价格偏高，要求降价 30% 未谈拢", "业务调整，团队规模缩减一半"]


def add_years(d, n):
    try:
        return d.replace(year=d.year + n)
    except ValueError:          # 29 February
        return d.replace(year=d.year + n, day=28)


def month_starts(first, last):
    out, d = [], date(first.year, first.month, 1)
    while d <= last:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


# (tier, risk route) -> count. Risk routes:
#   low          healthy usage, recent CSM touch, contract not due within 30 days
#   mid_health   medium usage (health 60-65)
#   mid_p1       healthy but one P1 incident in the last 90 days
#   mid_due      healthy, contract due within 30 days
#   high_cancel  customer asked to cancel
#   high_usage   seats barely used (health < 40)
#   high_due     contract due within 60 days and health < 60
PLAN = []
for tier, counts in [("战略客户", {"low": 12, "mid_health": 4, "mid_p1": 2, "mid_due": 2, "high_cancel": 2, "high_usage": 1, "high_due": 2}),
                     ("成长客户", {"low": 30, "mid_health": 12, "mid_p1": 7, "mid_due": 6, "high_cancel": 5, "high_usage": 5, "high_due": 5}),
                     ("标准客户", {"low": 45, "mid_health": 20, "mid_p1": 10, "mid_due": 10, "high_cancel": 8, "high_usage": 12, "high_due": 10})]:
    PLAN += [((tier, route), n) for route, n in counts.items()]
PLAN += [(("未付费", "churned"), 22), (("未付费", "trial"), 8)]


def pick_plan_seats(tier):
    if tier == "战略客户":
        plan = rng.choice(["企业版", "旗舰版"])
        seats = rng.randint(270, 800) if plan == "企业版" else rng.randint(180, 520)
    elif tier == "成长客户":
        plan = rng.choice(["专业版", "企业版"])
        seats = rng.randint(95, 380) if plan == "专业版" else rng.randint(58, 230)
    else:
        plan = rng.choice(["基础版", "专业版"])
        seats = rng.randint(5, 150) if plan == "基础版" else rng.randint(5, 75)
    return plan, seats


def build(tier, route):
    prov, city, districts = rng.choice(CITIES)
    industry = rng.choice(INDUSTRIES)
    # brand + trade word must be unique: the bundle compares names ignoring the city and 有限公司
    brand, trade = rng.unique(lambda: (rng.choice(BRANDS), rng.choice(TRADE_WORDS[industry])))
    a = {"name": city[:-1] + brand + trade + "有限公司"}
    if rng.random() < 0.85:
        a["mobile"] = rng.mobile()
    a["email"] = rng.unique(lambda: f"{rng.choice(['admin', 'it', 'ops', 'hr', 'ceo', 'zhang', 'li', 'wang'])}{rng.randint(1, 99)}@{BRAND_PY[brand]}{rng.randint(1, 999)}.com")
    if rng.random() < 0.7:
        a["website"] = f"https://www.{BRAND_PY[brand]}{rng.choice(['', 'tech', 'cloud', 'group'])}.com"
    if rng.random() < 0.93:
        a["region"] = f"{prov}/{city}/{rng.choice(districts)}"
    a["industry"] = industry

    subs, usage, tickets = [], [], []
    cancel = route == "high_cancel"
    if tier == "未付费" and route == "trial":
        plan, seats = "专业版", rng.choice([10, 20, 30])
        created = AS_OF - timedelta(days=rng.randint(5, 45))
        contract_end = None
    else:
        plan, seats = pick_plan_seats(tier if tier != "未付费" else rng.choice(["成长客户", "标准客户", "标准客户"]))
        if tier == "未付费":
            contract_end = AS_OF - timedelta(days=rng.randint(12, 420))
        elif route in ("mid_due",):
            contract_end = AS_OF + timedelta(days=rng.randint(3, 29))
        elif route == "high_due":
            contract_end = AS_OF + timedelta(days=rng.randint(5, 58))
        elif route == "low":
            contract_end = AS_OF + timedelta(days=rng.randint(35, 362))
        else:
            contract_end = AS_OF + timedelta(days=rng.randint(65, 362))
        # contract terms of one year each, back to the first purchase
        years = rng.choice([1, 1, 2, 2, 3, 4])
        term_end = contract_end
        terms = []
        for k in range(years):
            start = add_years(term_end, -1) + timedelta(days=1)
            terms.append((start, term_end))
            term_end = start - timedelta(days=1)
        terms.reverse()
        created = terms[0][0] - timedelta(days=rng.randint(7, 40))
        cur_seats = seats
        for k, (start, end) in enumerate(terms):
            if end < WINDOW_START:
                continue
            growth = 0.85 ** (len(terms) - 1 - k)        # fewer seats in earlier years
            s = max(5, int(seats * growth)) if k < len(terms) - 1 else seats
            subs.append({"kind": "新购" if k == 0 else "续约", "plan": plan, "seats": s, "start_date": start.isoformat(),
                         "end_date": end.isoformat(), "amount": s * PRICE[plan], "status": "正常"})
        start, end = terms[-1]
        if tier in ("战略客户", "标准客户") and rng.random() < 0.25 and start + timedelta(days=60) < min(end, AS_OF):
            extra = rng.randint(5, 40)                  # mid-term upsell, prorated
            up = rng.date_between(start + timedelta(days=30), min(end, AS_OF) - timedelta(days=30))
            amount = round(extra * PRICE[plan] * (end - up).days / 365, 2)
            if tier == "战略客户" or seats * PRICE[plan] + amount < 58_000:
                subs.append({"kind": "增购", "plan": plan, "seats": extra, "start_date": up.isoformat(),
                             "end_date": end.isoformat(), "amount": amount, "status": "正常"})
                cur_seats = seats + extra
        if tier == "未付费" and rng.random() < 0.3:       # signed a renewal, then cancelled it
            subs.append({"kind": "续约", "plan": plan, "seats": seats,
                         "start_date": (end + timedelta(days=1)).isoformat(),
                         "end_date": add_years(end, 1).isoformat(), "amount": seats * PRICE[plan], "status": "已取消"})
        seats = cur_seats
    subs.sort(key=lambda s: s["start_date"])

    a["plan"] = plan
    a["seats"] = seats
    n_mod = {"low": rng.randint(2, 6), "mid_health": rng.randint(1, 3), "high_usage": rng.randint(1, 3)}.get(route, rng.randint(1, 6))
    mods = ["CRM"] + rng.sample(MODULES[1:], n_mod - 1)
    if route in ("mid_health", "high_usage", "high_due"):
        mods = [m for m in mods if m != "开放API"] or ["CRM"]
    a["modules"] = [m for m in MODULES if m in mods]
    if tier != "未付费" or rng.random() < 0.7:
        a["csm"] = rng.choice(USERS)
    if route != "trial" and not (route == "high_usage" and rng.random() < 0.3):
        a["go_live_at"] = rng.timestamp(created + timedelta(days=rng.randint(14, 60)))
    nps = {"low": rng.choice([7, 8, 9, 10, 10, None]), "mid_p1": rng.choice([7, 8, 9, None]),
           "mid_due": rng.choice([7, 8, 9, 10, None]), "mid_health": rng.choice([7, 8, None]),
           "high_usage": rng.choice([2, 4, 5, 6, None]), "high_due": rng.choice([3, 5, 6]),
           }.get(route, rng.choice([0, 3, 5, 6, 7, 8, 9, None]))
    if nps is not None:
        a["nps"] = nps
    a["cancel_requested"] = cancel
    if cancel:
        a["churn_reason"] = rng.choice(CHURN_REASONS)

    # monthly usage: up to the last 15 months while the account was live
    rate = {"low": (0.76, 0.97), "mid_p1": (0.76, 0.95), "mid_due": (0.76, 0.95), "mid_health": (0.45, 0.63),
            "high_usage": (0.04, 0.15), "high_due": (0.45, 0.63), "high_cancel": (0.1, 0.6),
            "churned": (0.05, 0.4), "trial": (0.2, 0.9)}[route]
    base_rate = rng.uniform(*rate)
    last_month = AS_OF - timedelta(days=1) if route != "churned" else contract_end
    # usage is reported per full calendar month after sign-up
    months = month_starts(max(created + timedelta(days=32), AS_OF - timedelta(days=440)), last_month)[-15:]
    api = "开放API" in a["modules"]
    for m in months:
        r = min(1.0, max(0.0, base_rate + rng.uniform(-0.02, 0.02)))
        # seats in effect that month (trial accounts: their trial seats)
        paid = sum(s["seats"] for s in subs if s["status"] == "正常" and s["start_date"] <= m.isoformat() <= s["end_date"])
        m_seats = paid or seats
        usage.append({"month_start": m.isoformat(), "active_users": int(round(m_seats * r)),
                      "api_calls": rng.randint(2_000, 400_000) if api else 0,
                      "storage_gb": round(m_seats * rng.uniform(0.2, 1.5), 1)})

    # tickets: customer-raised ones and CSM touches
    live_from = max(created, WINDOW_START)
    live_to = AS_OF - timedelta(days=1) if route != "churned" else min(AS_OF - timedelta(days=1), contract_end + timedelta(days=30))
    n_customer = rng.randint(0, 6)
    for _ in range(n_customer):
        d = rng.date_between(live_from, live_to)
        kind = rng.choice(["故障报修", "使用咨询", "使用咨询", "功能建议"])
        prio = rng.choice(["P2", "P3", "P3"])
        if kind == "故障报修" and (AS_OF - d).days > 100 and rng.random() < 0.3:
            prio = "P1"                                 # an old incident does not count any more
        tickets.append([d, kind, prio])
    if route == "mid_p1":
        tickets.append([max(live_from, AS_OF - timedelta(days=rng.randint(10, 80))), "故障报修", "P1"])
    if route in ("high_cancel", "high_usage") and rng.random() < 0.5:
        for _ in range(2):
            tickets.append([max(live_from, AS_OF - timedelta(days=rng.randint(5, 85))), "故障报修", "P1"])
    # CSM touches: recent for healthy accounts, stale for the neglected ones
    n_touch = rng.randint(1, 6) if route != "trial" else rng.randint(0, 1)
    recent_touch = route in ("low", "mid_health", "mid_p1", "mid_due") or rng.random() < 0.3
    for k in range(n_touch):
        if k == 0 and recent_touch:
            d = AS_OF - timedelta(days=rng.randint(3, 75))
        elif recent_touch or route == "churned":
            d = rng.date_between(live_from, live_to)
        else:
            d = rng.date_between(live_from, AS_OF - timedelta(days=100))
        if d >= live_from:
            tickets.append([d, rng.choice(["主动回访", "主动回访", "季度业务回顾"]), "P3"])
    tickets.sort(key=lambda t: t[0])
    tickets = tickets[-15:]
    open_left = 2 if route in ("low", "mid_health", "mid_p1", "mid_due") else 4
    for d, kind, prio in tickets:
        age = (AS_OF - d).days
        if age <= 10 and kind not in ("主动回访", "季度业务回顾") and open_left > 0:
            status = rng.choice(["待处理", "处理中"])
            open_left -= 1
        else:
            status = rng.choice(["已解决", "已关闭", "已关闭"])
        t = {"opened_at": rng.timestamp(d, hours=(9, 21)), "type": kind, "priority": prio, "status": status}
        if status in ("已解决", "已关闭") and rng.random() < 0.7:
            t["satisfaction"] = rng.choice(["满意", "满意", "一般", "不满意"] if route.startswith("high") else ["满意", "满意", "满意", "一般"])
        a.setdefault("_tickets", []).append(t)

    a["owner"] = rng.choice(USERS)
    a["created_at"] = rng.timestamp(created, hours=(9, 18))
    a["subscription"] = subs
    a["usage"] = usage
    a["ticket"] = a.pop("_tickets", [])
    return a


def main():
    rows = [build(t, r) for t, r in rng.deal(PLAN)]
    write_customers(OUT, rows, "accounts", ("subscription", "usage", "ticket"))


if __name__ == "__main__":
    main()
