#!/usr/bin/env python3
"""Generate demo data for the manufacturing (制造业 B2B) template.

Deterministic (fixed seed), standard library only. Writes customers.jsonl next
to this file: one customer per line with its input fields, the system
attributes `owner` and `created_at`, and its child records under `order` and
`visit`. Formula fields, the autonumber and classifications are left to the
engine.

Each customer is drawn from an archetype (S / A / B / C profiles) so that
every tier of the bundle occurs when classified as of 2026-11-01.

    python3 examples/manufacturing/generate.py
"""
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # examples/, home of sample_data
from sample_data import AS_OF, TWELVE_MONTHS, USERS, WINDOW_START, SampleRandom, money, omit_none, write_customers

SEED = 20261101
OUT = Path(__file__).resolve().parent / "customers.jsonl"

rng = SampleRandom(SEED, hours=(8, 19), minutes=[0, 10, 15, 20, 30, 40, 45, 50])

GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
         "秀英", "霞", "平", "刚", "建华", "志强", "海燕", "晓东", "文博", "国庆", "春梅", "立新", "子涵", "宇航"]
PLACES = ["苏州", "无锡", "宁波", "东莞", "佛山", "深圳", "青岛", "天津", "合肥", "武汉", "成都", "厦门", "常州", "温州", "重庆"]
BRANDS = ["恒达", "华锐", "精工", "鼎盛", "博远", "新联", "宏图", "瑞丰", "金誉", "中科", "天成", "永信", "嘉禾",
          "力拓", "汇川", "凯达", "铭泰", "卓越", "东升", "盛世", "睿驰", "远航", "信达", "顺捷", "万隆", "高铭"]
TRADES = {
    "汽车零部件": ["汽车部件", "车桥", "精密冲压", "汽配"],
    "电子电器": ["电子", "电器", "光电", "智能科技"],
    "机械设备": ["机械", "重工", "机电", "传动设备"],
    "新能源": ["新能源", "储能科技", "光伏", "锂电"],
    "化工材料": ["新材料", "化工", "塑胶", "高分子材料"],
    "食品包装": ["包装", "食品机械", "印刷包装", "纸业"],
}
SUFFIXES = ["有限公司", "有限公司", "股份有限公司", "科技有限公司", "集团有限公司"]
REGIONS = [
    "江苏省/苏州市/吴中区", "江苏省/苏州市/昆山市", "江苏省/无锡市/新吴区", "江苏省/常州市/武进区",
    "浙江省/宁波市/北仑区", "浙江省/杭州市/萧山区", "浙江省/温州市/瓯海区", "广东省/深圳市/宝安区",
    "广东省/深圳市/龙岗区", "广东省/佛山市/顺德区", "广东省/东莞市/松山湖", "山东省/青岛市/黄岛区",
    "天津市/天津市/滨海新区", "安徽省/合肥市/肥西县", "湖北省/武汉市/蔡甸区", "四川省/成都市/龙泉驿区",
    "福建省/厦门市/集美区", "重庆市/重庆市/渝北区", "上海市/上海市/嘉定区", "河北省/廊坊市/固安县",
]
PINYIN = ["hengda", "huarui", "jinggong", "dingsheng", "boyuan", "xinlian", "hongtu", "ruifeng", "jinyu",
          "zhongke", "tiancheng", "yongxin", "jiahe", "lituo", "huichuan", "kaida", "mingtai", "zhuoyue"]
PRODUCT_LINES = ["数控机床", "注塑机", "工业机器人", "自动化产线", "零配件与耗材"]
SIZES = ["50人以下", "50-200人", "200-1000人", "1000人以上"]
SOURCES = ["展会", "官网询盘", "老客户转介绍", "电话开发", "阿里巴巴国际站"]
METHODS = ["上门拜访", "电话沟通", "微信沟通", "视频会议", "展会面谈"]
SUMMARIES = ["了解新产线扩产计划", "技术交流，确认设备参数", "商务谈判，客户要求降价 5%", "陪同客户参观样板工厂",
             "处理交付延期投诉", "回访设备使用情况", "介绍新款机器人工作站", "沟通年度框架协议"]
NEXT_STEPS = ["发送技术方案", "安排试机", "提交正式报价", "约采购总监面谈", "跟进回款", "寄送样品", None]
LOST_REASONS = ["价格高于竞品约 12%，客户选择了本地供应商", "客户项目延期，预算取消", "交付周期不满足客户要求",
                "决策人更换，新领导倾向原有供应商", "技术参数不满足，客户转向进口设备"]

def company(industry):
    # brand + trade must be unique: the bundle's duplicate check ignores place names and legal suffixes
    brand, trade = rng.unique(lambda: (rng.choice(BRANDS), rng.choice(TRADES[industry])))
    return rng.choice(PLACES) + brand + trade + rng.choice(SUFFIXES)


def split_amount(total, n, step=100):
    """n amounts (multiples of `step`) adding up to about `total`."""
    weights = [rng.uniform(0.5, 1.5) for _ in range(n)]
    s = sum(weights)
    return [max(step, round(total * w / s / step) * step) for w in weights]


def make_orders(created, n_recent, total_recent, n_old, old_range, lines, cancel_p=0.15):
    orders = []
    lo_recent = max(created, TWELVE_MONTHS + timedelta(days=10))
    for amt in split_amount(total_recent, n_recent) if n_recent else []:
        orders.append((rng.date_between(lo_recent, AS_OF - timedelta(days=3)), amt))
    for _ in range(n_old):
        orders.append((rng.date_between(max(created, WINDOW_START), TWELVE_MONTHS - timedelta(days=12)),
                       round(rng.uniform(*old_range) / 100) * 100))
    out = []
    for d, amt in orders:
        age = (AS_OF - d).days
        status = "已回款" if age > 90 else rng.choice(["已发货", "已回款"]) if age > 30 else rng.choice(["已下单", "已发货"])
        out.append([d, amt, status])
    if orders and len(out) < 15 and rng.random() < cancel_p:
        d = rng.date_between(max(created, WINDOW_START), AS_OF - timedelta(days=5))
        out.append([d, round(rng.uniform(20000, 300000) / 100) * 100, "已取消"])
    out.sort(key=lambda o: o[0])
    result = []
    for i, (d, amt, status) in enumerate(out, 1):
        result.append({
            "order_no": f"SO{d.strftime('%Y%m%d')}{rng.randint(100, 999)}",
            "order_date": d.isoformat(),
            "amount": money(amt),
            "product_line": rng.choice(lines),
            "status": status,
        })
    return result


def make_visits(created, n, recent_bias):
    """n visits after `created`; recent_bias in [0, 1] pushes them towards today."""
    return [omit_none({"visit_at": rng.timestamp(d), "method": rng.choice(METHODS), "summary": rng.choice(SUMMARIES),
                       "next_step": rng.choice(NEXT_STEPS)})
            for d in rng.activity_days(created, n, recent_bias, recent_days=75)]


# archetype -> how many customers
ARCHETYPES = ([("S", 22), ("A", 40), ("B_orders", 50), ("B_pipeline", 32),
               ("C_lead", 40), ("C_lost", 30), ("C_small", 26)])


def build(archetype, i):
    industry = rng.choice(list(TRADES))
    c = {"name": company(industry), "contact_name": rng.full_name(GIVEN)}
    if rng.random() < 0.92:
        c["mobile"] = rng.mobile()
    if rng.random() < 0.75:
        c["email"] = f"{rng.choice(['sales', 'purchase', 'cg', 'info'])}{rng.randint(1, 99)}@{rng.choice(PINYIN)}{rng.randint(1, 999)}.com.cn"
    if rng.random() < 0.95:
        c["region"] = rng.choice(REGIONS)
    c["industry"] = industry
    established = archetype in ("S", "A", "B_orders", "C_lost", "C_small")
    if established:
        created = rng.date_between(date(2023, 1, 5), date(2024, 12, 31))
    else:
        created = rng.date_between(date(2025, 9, 1), AS_OF - timedelta(days=3))
    if archetype in ("S", "A"):
        c["company_size"] = rng.choice(SIZES[2:])
    elif rng.random() < 0.85:
        c["company_size"] = rng.choice(SIZES)
    c["source"] = rng.choice(SOURCES)

    lines = rng.sample(PRODUCT_LINES, rng.randint(1, 4))
    key_account = False
    orders, visits = [], []
    stage = "成交"
    if archetype == "S":
        key_account = rng.random() < 0.6
        total = rng.uniform(1_150_000, 2_900_000) if key_account else rng.uniform(2_150_000, 4_800_000)
        orders = make_orders(created, rng.randint(6, 11), total, rng.randint(0, 3), (80_000, 400_000), lines)
        visits = make_visits(created, rng.randint(8, 15), 0.6)
        c["annual_purchase"] = money(round(rng.uniform(3_000_000, 12_000_000), -4))
    elif archetype == "A":
        total = rng.uniform(560_000, 1_850_000)
        key_account = total < 950_000 and rng.random() < 0.3
        orders = make_orders(created, rng.randint(3, 8), total, rng.randint(0, 4), (50_000, 300_000), lines)
        visits = make_visits(created, rng.randint(5, 12), 0.4)
        c["annual_purchase"] = money(round(rng.uniform(1_000_000, 6_000_000), -4))
    elif archetype == "B_orders":
        total = rng.uniform(120_000, 460_000)
        orders = make_orders(created, rng.randint(2, 6), total, rng.randint(0, 4), (20_000, 150_000), lines)
        visits = make_visits(created, rng.randint(3, 10), 0.3)
        if rng.random() < 0.8:
            c["annual_purchase"] = money(round(rng.uniform(200_000, 2_000_000), -4))
    elif archetype == "B_pipeline":
        stage = "商机" if i % 2 else "报价"
        visits = make_visits(created, rng.randint(2, 8), 0.5)
        if rng.random() < 0.85:
            c["annual_purchase"] = money(round(rng.uniform(300_000, 8_000_000), -4))
    elif archetype == "C_lead":
        stage = "线索"
        visits = make_visits(created, rng.randint(0, 3), 0.3)
        if rng.random() < 0.5:
            c["annual_purchase"] = money(round(rng.uniform(50_000, 3_000_000), -4))
    elif archetype == "C_lost":
        stage = "流失"
        orders = make_orders(created, 0, 0, rng.randint(0, 5), (20_000, 250_000), lines, cancel_p=0.3)
        visits = make_visits(created, rng.randint(1, 6), 0.05)
        if rng.random() < 0.6:
            c["annual_purchase"] = money(round(rng.uniform(100_000, 2_000_000), -4))
    elif archetype == "C_small":
        lines = ["零配件与耗材"] + [l for l in lines if l != "零配件与耗材"][:1]
        if rng.random() < 0.7:
            orders = make_orders(created, rng.randint(1, 3), rng.uniform(6_000, 90_000), rng.randint(0, 3),
                                 (5_000, 60_000), lines)
        else:   # only bought before the last 12 months: a sleeping customer
            orders = make_orders(created, 0, 0, rng.randint(1, 4), (5_000, 80_000), lines)
        visits = make_visits(created, rng.randint(1, 5), 0.2)
        if rng.random() < 0.5:
            c["annual_purchase"] = money(round(rng.uniform(30_000, 300_000), -3))

    c["stage"] = stage
    if stage == "流失":
        c["lost_reason"] = rng.choice(LOST_REASONS)
    if archetype != "C_lead" or rng.random() < 0.6:
        c["product_lines"] = [p for p in PRODUCT_LINES if p in lines]
    # order the keys like the bundle's field list
    if "annual_purchase" in c:
        c["annual_purchase"] = c.pop("annual_purchase")
    if archetype != "C_lead" or rng.random() < 0.5:
        c["is_key_account"] = key_account
    if archetype in ("S", "A", "B_pipeline") or rng.random() < 0.4:
        c["presales"] = rng.choice(USERS)
    if archetype in ("S", "A", "B_orders") and rng.random() < 0.75:
        c["contract_end"] = rng.date_between(date(2026, 10, 20), date(2027, 12, 31)).isoformat()
    c["owner"] = rng.choice(USERS)
    # the record was created the day before its first activity at the latest
    c["created_at"] = rng.timestamp(created - timedelta(days=1), hours=(9, 18))
    c["order"] = orders
    c["visit"] = visits
    return c


def main():
    rows = [build(a, i) for i, a in enumerate(rng.deal(ARCHETYPES))]
    write_customers(OUT, rows, "customers", ("order", "visit"))


if __name__ == "__main__":
    main()
