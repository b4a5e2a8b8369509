#!/usr/bin/env python3
"""Generate demo data for the retail membership (零售会员 RFM) template.

Deterministic (fixed seed), standard library only. Writes customers.jsonl next
to this file: one member per line with its input fields, the system
attributes `owner` and `created_at`, and its child records under `order` and
`touch`. Formula fields, the autonumber and classifications are left to the
engine.

Each member is drawn from a target RFM profile (R high/low, F high/low, M
high/low, or never bought) so that all eight RFM segments and 未消费 occur when
classified as of 2026-11-01.

    python3 examples/retail/generate.py
"""
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # examples/, home of sample_data
from sample_data import AS_OF, SURNAMES, TWELVE_MONTHS, USERS, WINDOW_START, SampleRandom, money, omit_none, write_customers

SEED = 20261104
R_LINE = AS_OF - timedelta(days=90)             # last order on/after this day: R high
OUT = Path(__file__).resolve().parent / "customers.jsonl"

rng = SampleRandom(SEED, hours=(10, 21))        # shop hours, any minute

MEMBER_SURNAMES = SURNAMES + "苏魏吕丁沈"
FEMALE = ["芳", "娜", "敏", "静", "丽", "艳", "婷", "雪", "琳", "晶", "欣怡", "雨涵", "思琪", "佳怡", "梦瑶", "诗雨",
          "晓燕", "慧敏", "雅琴", "紫涵"]
MALE = ["伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "浩然", "子轩", "俊杰", "志明", "家豪", "宇航"]
STORES = {  # store -> region choices
    "深圳万象城店": ["广东省/深圳市/罗湖区", "广东省/深圳市/福田区", "广东省/深圳市/龙岗区"],
    "深圳海岸城店": ["广东省/深圳市/南山区", "广东省/深圳市/宝安区"],
    "广州天河城店": ["广东省/广州市/天河区", "广东省/广州市/越秀区", "广东省/广州市/番禺区"],
    "上海环球港店": ["上海市/上海市/普陀区", "上海市/上海市/长宁区", "上海市/上海市/静安区"],
    "北京三里屯店": ["北京市/北京市/朝阳区", "北京市/北京市/东城区", "北京市/北京市/海淀区"],
    "成都太古里店": ["四川省/成都市/锦江区", "四川省/成都市/武侯区", "四川省/成都市/高新区"],
}
CHANNELS = ["门店", "门店", "微信小程序", "天猫旗舰店", "京东旗舰店", "抖音直播间"]
CATEGORIES = ["女装", "男装", "童装", "鞋包", "美妆个护", "家居"]
METHODS = ["企业微信", "企业微信", "电话", "短信", "门店接待"]
PURPOSES = ["新品推荐", "生日关怀", "活动邀约", "售后回访", "沉睡唤醒"]
NOTES = ["已发新品图册", "会员日活动已邀约，答复考虑", "反馈尺码偏小，已安排换货", "表示最近不需要", "约周末到店试穿", None, None]
COMPLAINTS = ["网购羽绒服到货有色差，退换货处理慢", "门店导购服务态度问题，已致歉", "会员积分未按时到账",
              "快递延误三天，要求补偿"]


def split(total, n):
    """n order amounts (2 decimals, ending like shop prices) adding up to about total."""
    w = [rng.uniform(0.4, 1.6) for _ in range(n)]
    s = sum(w)
    return [max(39.0, round(total * x / s) - rng.choice([0.0, 0.1, 0.2, 1.0, 0.01])) for x in w]


# segment -> (R high?, F high?, M high?), count; None = never bought
SEGMENTS = [
    ("重要价值客户", (True, True, True), 30), ("重要发展客户", (True, False, True), 25),
    ("重要保持客户", (False, True, True), 25), ("重要挽留客户", (False, False, True), 25),
    ("一般价值客户", (True, True, False), 30), ("一般发展客户", (True, False, False), 30),
    ("一般保持客户", (False, True, False), 20), ("一般挽留客户", (False, False, False), 35),
    ("未消费", None, 20),
]


def orders_for(profile, since):
    """Paid orders matching the R/F/M profile, plus older history and a few refunds."""
    if profile is None:
        return []
    r_high, f_high, m_high = profile
    lo12 = max(since, TWELVE_MONTHS + timedelta(days=7))
    if f_high:
        n12 = rng.randint(4, 10)
    elif r_high:
        n12 = rng.randint(1, 3)
    else:
        # a member who joined within the last year has no older history: at least one order
        n12 = rng.randint(1, 3) if m_high or since > TWELVE_MONTHS - timedelta(days=60) else rng.randint(0, 3)
    if m_high:
        total = rng.uniform(5_300, 28_000) if rng.random() < 0.8 else rng.uniform(20_000, 45_000)
        total = max(total, 5_300 + 60 * n12)       # stay clear of the 5000 line after rounding
    else:
        total = rng.uniform(150, 900) * n12 if n12 else 0
        total = min(total, 4_600)
    amounts = split(total, n12) if n12 else []
    dates = []
    for k in range(n12):
        if r_high and k == 0:
            dates.append(rng.date_between(max(since, R_LINE + timedelta(days=4)), AS_OF - timedelta(days=1)))
        elif r_high:
            dates.append(rng.date_between(lo12, AS_OF - timedelta(days=1)))
        else:
            dates.append(rng.date_between(lo12, R_LINE - timedelta(days=5)))
    orders = [(d, a, "已支付") for d, a in zip(dates, amounts)]
    # older history (before the last 12 months); members whose only orders are old
    # are R low / F low / M low
    n_old = rng.randint(0, 5) if since < TWELVE_MONTHS - timedelta(days=30) else 0
    if n12 == 0:
        n_old = max(n_old, 1)
    for _ in range(n_old):
        orders.append((rng.date_between(max(since, WINDOW_START), TWELVE_MONTHS - timedelta(days=7)),
                       round(rng.uniform(99, 2500)) - 0.1, "已支付"))
    if orders and rng.random() < 0.12:
        orders.append((rng.date_between(max(since, WINDOW_START), AS_OF - timedelta(days=2)),
                       round(rng.uniform(199, 1999)), "已退款"))
    orders.sort(key=lambda o: o[0])
    out = []
    for d, a, st in orders[:15]:
        out.append({"order_no": f"R{d.strftime('%y%m%d')}{rng.randint(100000, 999999)}", "order_date": d.isoformat(),
                    "amount": money(a), "items": rng.randint(1, 6),
                    "channel": rng.choice(CHANNELS), "status": st})
    return out


def touches_for(since, n):
    return [omit_none({"touch_at": rng.timestamp(d), "method": rng.choice(METHODS), "purpose": rng.choice(PURPOSES),
                       "note": rng.choice(NOTES)})
            for d in rng.activity_days(since, n)]


def build(segment, profile):
    female = rng.random() < 0.72
    m = {"name": rng.full_name(FEMALE if female else MALE, MEMBER_SURNAMES), "mobile": rng.mobile()}
    if rng.random() < 0.95:
        m["gender"] = "女" if female else "男"
    if rng.random() < 0.8:
        m["birthday"] = rng.date_between(date(1968, 1, 1), date(2004, 12, 31)).isoformat()
    if rng.random() < 0.35:
        m["email"] = f"{rng.choice(['lily', 'amy', 'coco', 'momo', 'leo', 'jack', 'xiaomi', 'sunny'])}{rng.randint(1, 9999)}@{rng.choice(['qq.com', '163.com', 'gmail.com', 'outlook.com'])}"
    store = rng.choice(list(STORES))
    if rng.random() < 0.9:
        m["region"] = rng.choice(STORES[store])
    m["home_store"] = store
    m["signup_channel"] = rng.choice(["门店", "门店", "门店", "微信小程序", "天猫旗舰店", "京东旗舰店", "抖音直播间"])
    cats = rng.sample(CATEGORIES[:2] if not female else ["女装", "鞋包", "美妆个护", "童装", "家居"], rng.randint(1, 2))
    if rng.random() < 0.85:
        m["favorite_categories"] = [c for c in CATEGORIES if c in cats]
    if profile is None and rng.random() < 0.6:
        since = rng.date_between(AS_OF - timedelta(days=55), AS_OF - timedelta(days=2))     # just joined
    elif rng.random() < 0.5:
        since = rng.date_between(date(2019, 3, 1), date(2024, 6, 30))
    else:
        since = rng.date_between(date(2024, 7, 1), date(2025, 10, 31))
    m["member_since"] = since.isoformat()
    m["marketing_opt_in"] = rng.random() < 0.7
    if rng.random() < 0.8:
        m["registered_by"] = rng.choice(USERS)
    if profile is not None and rng.random() < 0.85:
        m["points_expire_on"] = rng.choice(["2026-11-30", "2026-12-31", "2026-12-31", "2027-06-30", "2027-12-31"])
    if rng.random() < 0.05:
        m["has_complaint"] = True
        m["complaint_note"] = rng.choice(COMPLAINTS)
    elif rng.random() < 0.7:
        m["has_complaint"] = False
    m["owner"] = rng.choice(USERS)
    m["created_at"] = rng.timestamp(since - timedelta(days=1) if since > WINDOW_START else since)
    m["order"] = orders_for(profile, since)
    n_touch = {True: rng.randint(3, 12)}.get(profile is not None and profile[2], rng.randint(0, 6))
    m["touch"] = touches_for(since, n_touch)
    return m


def main():
    rows = [build(s, p) for s, p in rng.deal(((s, p), n) for s, p, n in SEGMENTS)]
    write_customers(OUT, rows, "members", ("order", "touch"))


if __name__ == "__main__":
    main()
