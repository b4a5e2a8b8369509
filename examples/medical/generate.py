#!/usr/bin/env python3
"""Generate demo data for the medical devices (医疗器械) template.

Deterministic (fixed seed), standard library only. Writes customers.jsonl next
to this file: one hospital / clinic / distributor per line with its input
fields, the system attributes `owner` and `created_at`, and its child records
under `device`, `order` and `visit`. Formula fields, the autonumber and
classifications are left to the engine.

Each customer is drawn from an archetype so that every tier (A/B/C/D) of the
bundle occurs when classified as of 2026-11-01.

    python3 examples/medical/generate.py
"""
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # examples/, home of sample_data
from sample_data import AS_OF, TWELVE_MONTHS, USERS, WINDOW_START, SampleRandom, omit_none, write_customers

SEED = 20261103
OUT = Path(__file__).resolve().parent / "customers.jsonl"

rng = SampleRandom(SEED, hours=(8, 18), minutes=[0, 15, 30, 45])

CITIES = [  # city, province, districts, 6-digit area code
    ("深圳市", "广东省", ["南山区", "福田区", "罗湖区", "龙岗区", "宝安区"], "440300"),
    ("广州市", "广东省", ["天河区", "越秀区", "海珠区", "番禺区"], "440100"),
    ("佛山市", "广东省", ["禅城区", "南海区", "顺德区"], "440600"),
    ("东莞市", "广东省", ["南城街道", "东城街道", "长安镇"], "441900"),
    ("长沙市", "湖南省", ["岳麓区", "开福区", "雨花区"], "430100"),
    ("南宁市", "广西壮族自治区", ["青秀区", "兴宁区", "西乡塘区"], "450100"),
    ("厦门市", "福建省", ["思明区", "湖里区", "集美区"], "350200"),
    ("福州市", "福建省", ["鼓楼区", "台江区", "仓山区"], "350100"),
    ("南昌市", "江西省", ["东湖区", "青山湖区", "红谷滩区"], "360100"),
    ("海口市", "海南省", ["龙华区", "美兰区"], "460100"),
    ("武汉市", "湖北省", ["江汉区", "武昌区", "洪山区"], "420100"),
    ("昆明市", "云南省", ["五华区", "盘龙区", "官渡区"], "530100"),
]
BIG_HOSPITALS = ["第一人民医院", "第二人民医院", "人民医院", "中心医院", "中医院", "妇幼保健院",
                 "第三人民医院", "中西医结合医院", "儿童医院", "肿瘤医院"]
SMALL_HOSPITALS = ["第四人民医院", "第五人民医院", "骨科医院", "眼科医院", "康复医院", "中医院分院", "职业病防治院"]
PRIVATE_HOSPITALS = ["和美妇儿医院", "仁爱医院", "博爱医院", "华侨医院", "爱尔眼科医院", "现代医院"]
CLINIC_BRANDS = ["牙博士", "瑞尔", "美年", "康宁", "仁和", "德真", "佳美", "同济", "悦康", "明德", "惠民", "益康"]
CLINIC_KINDS = ["口腔门诊部", "医学影像诊断中心", "体检中心", "中医诊所", "眼科诊所", "社区健康服务中心", "骨科门诊部"]
DIST_BRANDS = ["康泰", "瑞康", "华润", "国科", "九州", "恒安", "新天地", "佳信", "众合", "德润", "百川", "安达"]
MODELS = ["彩色多普勒超声 DC-80", "数字化X线摄影 DR-600", "全自动生化分析仪 BS-2000",
          "病人监护仪 M8", "呼吸机 V60", "电子内窥镜系统 HD-500", "口腔CBCT OC-300"]
DEVICE_PRICE = {"彩色多普勒超声 DC-80": (800_000, 2_200_000), "数字化X线摄影 DR-600": (900_000, 1_800_000),
                "全自动生化分析仪 BS-2000": (500_000, 1_300_000), "病人监护仪 M8": (60_000, 450_000),
                "呼吸机 V60": (150_000, 600_000), "电子内窥镜系统 HD-500": (1_200_000, 2_800_000),
                "口腔CBCT OC-300": (350_000, 700_000)}
DEPTS = ["影像科", "检验科", "心内科", "骨科", "口腔科", "眼科", "重症医学科", "手术室"]
VISIT_DEPTS = DEPTS + ["设备科", "采购部"]
PURPOSES = ["学术推广", "装机培训", "维修巡检", "商务洽谈", "招标跟进"]
NOTES = ["参加科室早交班，介绍新机型", "设备科主任反馈明年预算情况", "完成季度巡检，设备运行正常", "招标参数沟通",
         "处理探头故障报修", "培训新入职技师", "讨论耗材集采价格", None]
CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def credit_code(kind, area):
    return rng.unique(lambda: kind + area + "".join(rng.choice(CODE_CHARS) for _ in range(10)))


def orders_for(created, plan):
    """plan: list of (category, amount, recent?) -> order dicts."""
    out = []
    lo = max(created, WINDOW_START)
    for cat, amount, recent in plan:
        if recent:
            d = rng.date_between(max(lo, TWELVE_MONTHS + timedelta(days=10)), AS_OF - timedelta(days=3))
        else:
            d = rng.date_between(lo, TWELVE_MONTHS - timedelta(days=10))
        age = (AS_OF - d).days
        status = "已回款" if age > 120 else rng.choice(["已签约", "已发货", "已回款"])
        out.append({"order_date": d, "category": cat, "amount": int(round(amount, -2)), "status": status})
    if out and len(out) < 15 and rng.random() < 0.12:
        out.append({"order_date": rng.date_between(lo, AS_OF - timedelta(days=5)), "category": "设备",
                    "amount": int(round(rng.uniform(100_000, 900_000), -2)), "status": "已取消"})
    out.sort(key=lambda o: o["order_date"])
    for o in out:
        o["order_no"] = f"YX{o['order_date'].strftime('%Y%m%d')}{rng.randint(10, 99)}"
        o["order_date"] = o["order_date"].isoformat()
    return [{k: o[k] for k in ("order_no", "order_date", "category", "amount", "status")} for o in out]


def devices_for(created, n, models, in_use=True):
    out = []
    for _ in range(n):
        # retired devices were installed early in the window
        inst = rng.date_between(max(created, WINDOW_START), AS_OF - timedelta(days=7) if in_use else date(2025, 3, 31))
        years = rng.choice([1, 1, 2, 3])
        d = {"serial_no": rng.unique(lambda: f"{rng.choice('ABCDEFGH')}{inst.strftime('%y%m')}{rng.randint(10000, 99999)}"),
             "model": rng.choice(models), "installed_on": inst.isoformat()}
        if rng.random() < 0.93:
            d["warranty_end"] = date(inst.year + years, inst.month, min(inst.day, 28)).isoformat()
        r = rng.random()
        d["status"] = ("在用" if r < 0.88 else "维修中") if in_use else "已报废"
        out.append(d)
    out.sort(key=lambda d: d["installed_on"])
    return out


def visits_for(created, n, recent_bias):
    return [omit_none({"visit_at": rng.timestamp(d), "purpose": rng.choice(PURPOSES),
                       "department": rng.choice(VISIT_DEPTS), "notes": rng.choice(NOTES)})
            for d in rng.activity_days(created, n, recent_bias, recent_days=80)]


def device_order(models, recent):
    m = rng.choice(models)
    return ("设备", rng.uniform(*DEVICE_PRICE[m]), recent)


def consumables(n, recent, lo=20_000, hi=150_000):
    return [("耗材", rng.uniform(lo, hi), recent) for _ in range(n)]


ARCHETYPES = [("A_hospital", 14), ("A_distributor", 8), ("B_hospital", 40), ("B_distributor", 12),
              ("B_clinic", 10), ("C", 80), ("D", 76)]


def build(arch, i):
    city, prov, districts, area = rng.choice(CITIES)
    kind = {"A_hospital": "医院", "B_hospital": "医院", "A_distributor": "经销商", "B_distributor": "经销商",
            "B_clinic": "诊所"}.get(arch) or rng.choice(["医院", "医院", "诊所", "诊所", "经销商"])
    c = {}
    grade = None
    if kind == "医院":
        if arch == "A_hospital":
            grade = "三级甲等"
        elif arch == "B_hospital":
            grade = rng.choice(["三级甲等", "三级乙等", "三级乙等", "二级甲等"])
        else:
            grade = rng.choice(["二级甲等", "二级乙等", "一级", "未定级"])
        private = grade in ("一级", "未定级", "二级乙等") and rng.random() < 0.5
        names = PRIVATE_HOSPITALS if private else (BIG_HOSPITALS if grade.startswith("三") else SMALL_HOSPITALS)

        def hospital_name():
            nonlocal city, prov, districts, area
            city, prov, districts, area = rng.choice(CITIES)
            district = rng.choice(districts) if not grade.startswith("三") and rng.random() < 0.5 else ""
            if district:      # keep the region consistent with a district in the name
                districts = [district]
            return city + district + rng.choice(names)
        c["name"] = rng.unique(hospital_name)
        c["customer_type"] = kind
        c["hospital_grade"] = grade
        if rng.random() < 0.9:
            lo, hi = {"三级甲等": (800, 3500), "三级乙等": (500, 1200), "二级甲等": (300, 700)}.get(grade, (50, 300))
            c["bed_count"] = rng.randint(lo, hi) // 10 * 10
        c["ownership"] = "民营" if private else "公立"
        depts = rng.sample(DEPTS, rng.randint(2, 5))
        models = MODELS[:6]
        code_kind = "52" if private else "12"
    elif kind == "诊所":
        c["name"] = rng.unique(lambda: rng.choice(CLINIC_BRANDS) + rng.choice(["", city[:-1]]) + rng.choice(CLINIC_KINDS) +
                           rng.choice(["", f"（{rng.choice(districts)}店）"]))
        c["customer_type"] = kind
        c["ownership"] = "民营" if rng.random() < 0.85 else "公立"
        depts = rng.sample(["口腔科", "眼科", "影像科", "检验科", "骨科"], rng.randint(1, 2))
        models = ["口腔CBCT OC-300", "彩色多普勒超声 DC-80", "病人监护仪 M8"]
        code_kind = "52" if c["ownership"] == "民营" else "12"
    else:
        c["name"] = rng.unique(lambda: city + rng.choice(DIST_BRANDS) + rng.choice(["医疗器械", "医疗科技", "医药"]) +
                           rng.choice(["有限公司", "股份有限公司", "贸易有限公司"]))
        c["customer_type"] = kind
        depts = rng.sample(DEPTS, rng.randint(2, 4))
        models = MODELS
        code_kind = "91"
    c["departments"] = [d for d in DEPTS if d in depts]
    if rng.random() < 0.95:
        c["region"] = f"{prov}/{city}/{rng.choice(districts)}"
    if rng.random() < 0.85:
        c["credit_code"] = credit_code(code_kind, area)
    if rng.random() < 0.95:     # admitted to the hospital's supplier list / distribution agreement signed
        c["admitted"] = rng.random() < {"A_hospital": 1.0, "A_distributor": 1.0, "C": 0.85, "D": 0.25}.get(arch, 0.95)
    if rng.random() < 0.9:
        c["mobile"] = rng.mobile()
    if rng.random() < 0.6:
        c["email"] = f"{rng.choice(['sbk', 'cgb', 'equip', 'purchase', 'info'])}{rng.randint(1, 999)}@{rng.choice(['hosp', 'med', 'yy', 'health'])}{rng.randint(10, 9999)}.cn"

    established = arch != "D" or rng.random() < 0.35
    created = rng.date_between(date(2023, 6, 1), date(2024, 12, 31)) if established else \
        rng.date_between(date(2025, 3, 1), AS_OF - timedelta(days=5))

    devices, plan, visits = [], [], []
    if arch == "A_hospital":
        devices = devices_for(created, rng.randint(3, 10), models)
        plan = [device_order(["彩色多普勒超声 DC-80", "电子内窥镜系统 HD-500", "数字化X线摄影 DR-600"], True)]
        plan += [device_order(models, True) for _ in range(rng.randint(0, 2))]
        plan += consumables(rng.randint(2, 6), True) + consumables(rng.randint(0, 3), False)
        plan += [("维保服务", rng.uniform(80_000, 300_000), True)]
        visits = visits_for(created, rng.randint(8, 15), 0.5)
        budget = rng.uniform(5_000_000, 30_000_000)
    elif arch == "A_distributor":
        devices = devices_for(created, rng.randint(0, 3), models)
        plan = [device_order(["彩色多普勒超声 DC-80", "电子内窥镜系统 HD-500", "数字化X线摄影 DR-600"], True)
                for _ in range(rng.randint(3, 6))]
        plan += consumables(rng.randint(2, 5), True, 100_000, 400_000) + [device_order(models, False)]
        total = sum(a for _, a, r in plan if r)
        if total < 3_300_000:
            plan.append(("设备", 3_300_000 - total + rng.uniform(50_000, 500_000), True))
        visits = visits_for(created, rng.randint(5, 12), 0.4)
        budget = None
    elif arch == "B_hospital":
        devices = devices_for(created, rng.randint(1, 6), models)
        if grade in ("三级甲等", "三级乙等"):   # tier B by grade; orders below A's line
            plan = consumables(rng.randint(1, 4), True, 20_000, 120_000) + consumables(rng.randint(0, 3), False)
            if rng.random() < 0.4:
                plan.append(("维保服务", rng.uniform(50_000, 200_000), True))
        else:                                    # 二甲 reaching B by purchases
            plan = [device_order(["彩色多普勒超声 DC-80", "全自动生化分析仪 BS-2000", "呼吸机 V60"], True)]
            plan += consumables(rng.randint(1, 3), True)
            if sum(a for _, a, r in plan if r) < 320_000:
                plan.append(("设备", 320_000, True))
        visits = visits_for(created, rng.randint(3, 10), 0.3)
        budget = rng.uniform(1_000_000, 8_000_000)
    elif arch == "B_distributor":
        plan = [device_order(models, True) for _ in range(rng.randint(1, 2))] + consumables(rng.randint(1, 4), True)
        plan += [device_order(models, False) for _ in range(rng.randint(0, 2))]
        total = sum(a for _, a, r in plan if r)
        if total >= 2_800_000 or total < 320_000:
            plan = [("设备", rng.uniform(400_000, 2_500_000), True)] + consumables(2, False)
        visits = visits_for(created, rng.randint(2, 8), 0.3)
        budget = None
    elif arch == "B_clinic":   # chains with many chairs / devices
        devices = devices_for(created, rng.randint(5, 9), models)
        for d in devices:
            d["status"] = "在用"
        plan = consumables(rng.randint(1, 4), True, 10_000, 40_000)
        visits = visits_for(created, rng.randint(2, 8), 0.3)
        budget = rng.uniform(300_000, 2_000_000)
    elif arch == "C":
        if rng.random() < 0.6:
            devices = devices_for(created, rng.randint(1, 3), models)
            for d in devices:
                d["status"] = rng.choice(["在用", "在用", "维修中"])
            devices[0]["status"] = "在用"
        plan = consumables(rng.randint(1 if not devices else 0, 3), True, 8_000, 60_000)
        plan += consumables(rng.randint(0, 2), False, 8_000, 60_000)
        visits = visits_for(created, rng.randint(1, 6), 0.2)
        budget = rng.uniform(200_000, 3_000_000)
    else:   # D: prospects, or customers who stopped buying and retired their devices
        if established:
            devices = devices_for(created, rng.randint(0, 2), models, in_use=False)
            plan = consumables(rng.randint(0, 3), False, 8_000, 60_000)
            visits = visits_for(created, rng.randint(0, 4), 0.0)
        else:
            visits = visits_for(created, rng.randint(0, 4), 0.3)
        budget = rng.uniform(300_000, 6_000_000) if rng.random() < 0.5 else None

    if budget is not None and rng.random() < 0.85:
        c["annual_budget"] = int(round(budget, -4))
    if devices or rng.random() < 0.3:
        c["service_engineer"] = rng.choice(USERS)
    if devices and rng.random() < 0.7:
        c["service_contract_end"] = rng.date_between(date(2026, 10, 15), date(2027, 12, 31)).isoformat()
    if kind == "经销商":
        c["authorized_area"] = (f"{prov}{rng.choice(['全省', city, city + '及周边地市'])}；授权产品线："
                                f"{'、'.join(rng.sample(['超声', '检验', '监护', '内镜', '放射'], 2))}；"
                                f"授权期至 {rng.choice([2026, 2027])} 年 12 月 31 日")
    c["owner"] = rng.choice(USERS)
    c["created_at"] = rng.timestamp(created - timedelta(days=1), hours=(9, 17))
    c["device"] = devices
    c["order"] = orders_for(created, plan)[:15]
    c["visit"] = visits
    return c


def main():
    rows = [build(a, i) for i, a in enumerate(rng.deal(ARCHETYPES))]
    write_customers(OUT, rows, "customers", ("device", "order", "visit"))


if __name__ == "__main__":
    main()
