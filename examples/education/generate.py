#!/usr/bin/env python3
"""Generate demo data for the education (教育培训) template.

Deterministic (fixed seed), standard library only. Writes customers.jsonl next
to this file: one student per line with its input fields, the system
attributes `owner` and `created_at`, and its child records under `trial`,
`payment` and `contact`. Formula fields, the autonumber and classifications
are left to the engine.

Each student is drawn from an archetype (hot/warm/cold lead, trial, enrolled,
renewed, lost) so that every lifecycle stage and intent level of the bundle
occurs when classified as of 2026-11-01.

    python3 examples/education/generate.py
"""
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))    # examples/, home of sample_data
from sample_data import AS_OF, USERS, WINDOW_START, SampleRandom, write_customers

SEED = 20261102
OUT = Path(__file__).resolve().parent / "customers.jsonl"

rng = SampleRandom(SEED, hours=(9, 20), minutes=[0, 15, 30, 45])

CHILD_GIVEN = ["子涵", "梓萱", "浩然", "一诺", "欣怡", "宇轩", "诗涵", "俊熙", "若汐", "沐宸", "可馨", "皓轩",
               "语桐", "思远", "梓睿", "雨桐", "嘉懿", "铭泽", "安琪", "奕辰"]
ADULT_GIVEN = ["晓雯", "志远", "佳琪", "俊杰", "雅婷", "文静", "家豪", "思琪", "建军", "丽娟"]
PARENT_SUFFIX = ["妈妈", "爸爸"]
SUBJECTS = ["少儿英语", "数学思维", "少儿编程", "美术", "书法", "钢琴", "雅思托福"]
KID_SUBJECTS = SUBJECTS[:6]
REGIONS = ["广东省/深圳市/南山区", "广东省/深圳市/福田区", "广东省/深圳市/宝安区", "广东省/深圳市/龙华区",
           "广东省/深圳市/罗湖区", "广东省/深圳市/龙岗区", "广东省/东莞市/长安镇", "广东省/惠州市/惠阳区"]
SOURCES = ["地推活动", "抖音", "小红书", "老学员转介绍", "大众点评", "官网/400电话"]
NON_REFERRAL = [s for s in SOURCES if s != "老学员转介绍"]
GRADES = {  # grade -> birth year range
    "学前": (2020, 2022), "小学低年级": (2017, 2019), "小学高年级": (2014, 2016),
    "初中": (2011, 2013), "高中": (2008, 2010), "成人": (1986, 2004),
}
TEACHERS = ["Emma老师", "王老师", "李老师", "Jason老师", "陈老师", "周老师"]
CHANNELS = ["电话", "微信", "微信", "到店面谈", "短信"]
CONTENTS = ["介绍课程体系和班型", "邀约周末试听", "反馈试听表现，推荐课程方案", "沟通报名优惠（限时 9 折）",
            "学情反馈：本月出勤良好", "家长咨询调课", "续费沟通，家长考虑中", "发送课表和校区地址"]
LOST_REASONS = ["家长觉得价格偏高，选择了小区附近的机构", "孩子学业压力大，暂停课外班", "搬家到外地，距离太远",
                "试听后孩子不感兴趣", "已在其他机构报名"]


def days_ago(a, b):
    """A date between a and b days before AS_OF (a <= b)."""
    return AS_OF - timedelta(days=rng.randint(a, b))


def contacts(n, lo, hi):
    ds = sorted(rng.date_between(lo, hi) for _ in range(n))
    out = []
    for d in ds:
        c = {"contact_at": rng.timestamp(d), "channel": rng.choice(CHANNELS)}
        if rng.random() < 0.9:
            c["content"] = rng.choice(CONTENTS)
        out.append(c)
    return out


def trial(d, subjects, attended, happy=None):
    t = {"trial_at": rng.timestamp(d, hours=(9, 18)), "subject": rng.choice(subjects), "teacher": rng.choice(TEACHERS),
         "attended": attended}
    if attended:
        if happy is None:
            happy = rng.random() < 0.7
        fb = rng.choice(["非常满意", "满意"]) if happy else rng.choice(["一般", "不满意"])
        if rng.random() < 0.92:          # a few teachers forget to record feedback
            t["feedback"] = fb
    return t


def package(d, kind):
    lessons = rng.choice([24, 48, 48, 72])
    price = rng.choice([180, 220, 260, 300, 350])
    valid = d + timedelta(days=183 if lessons == 24 else 365)
    return {"paid_on": d.isoformat(), "kind": kind, "amount": lessons * price, "lessons": lessons,
            "valid_until": valid.isoformat(), "pay_method": rng.choice(["微信支付", "支付宝", "银行转账", "教育分期"])}


ARCHETYPES = [("lead_hot", 10), ("lead_warm", 25), ("lead_cold", 22), ("trial", 45),
              ("enrolled", 55), ("renewed", 40), ("lost_expired", 23), ("lost_flag", 20)]


def build(arch, i):
    grade = rng.choice(list(GRADES)) if rng.random() < 0.85 else rng.choice(["学前", "小学低年级", "小学高年级"])
    adult = grade == "成人"
    s = {"name": rng.full_name(ADULT_GIVEN if adult else CHILD_GIVEN)}
    s["contact_role"] = "学员本人" if adult else "家长"
    if not adult:
        s["parent_name"] = s["name"][0] + rng.choice(PARENT_SUFFIX) if rng.random() < 0.5 else \
            rng.full_name(ADULT_GIVEN)
    s["phone"] = rng.mobile()
    s["grade"] = grade
    if rng.random() < 0.85:
        y0, y1 = GRADES[grade]
        s["birthday"] = rng.date_between(date(y0, 1, 1), date(y1, 12, 31)).isoformat()
    pool = ["雅思托福", "少儿英语", "书法", "钢琴"] if adult else KID_SUBJECTS
    n_sub = {"lead_hot": rng.randint(2, 3), "lead_warm": 2}.get(arch, rng.choice([1, 1, 2, 2, 3]))
    subjects = rng.sample(pool, n_sub)
    s["subjects"] = [x for x in SUBJECTS if x in subjects]
    if rng.random() < 0.35:
        s["email"] = f"{rng.choice(['mama', 'baba', 'jia', 'xue', 'happy', 'study'])}{rng.randint(100, 99999)}@{rng.choice(['qq.com', '163.com', '126.com', 'foxmail.com'])}"
    if rng.random() < 0.85:
        s["home_region"] = rng.choice(REGIONS)
    s["source"] = "老学员转介绍" if arch == "lead_hot" else \
        rng.choice(NON_REFERRAL) if arch == "lead_warm" else rng.choice(SOURCES)
    budget = None
    if arch in ("lead_hot", "lead_warm"):
        budget = rng.choice([12000, 15000, 20000, 30000])
    elif rng.random() < 0.6:
        budget = rng.choice([3000, 5000, 8000, 10000, 15000, 20000, 30000])
    if budget is not None:
        s["budget"] = budget

    trials, payments, talk = [], [], []
    lost = False
    if arch == "lead_hot":
        created = days_ago(8, 25)
        talk = contacts(rng.randint(2, 4), max(created, AS_OF - timedelta(days=12)), AS_OF - timedelta(days=1))
    elif arch == "lead_warm":
        created = days_ago(10, 60)
        talk = contacts(1, max(created, AS_OF - timedelta(days=25)), AS_OF - timedelta(days=15)) + \
            contacts(rng.randint(0, 2), created, AS_OF - timedelta(days=26))
        talk.sort(key=lambda c: c["contact_at"])
    elif arch == "lead_cold":
        created = days_ago(60, 500)
        talk = contacts(rng.randint(0, 3), created, AS_OF - timedelta(days=40))
        if rng.random() < 0.35:
            trials = [trial(rng.date_between(created, AS_OF - timedelta(days=40)), subjects, False)]
    elif arch == "trial":
        created = days_ago(15, 200)
        first = rng.date_between(created + timedelta(days=2), AS_OF - timedelta(days=3))
        trials = [trial(first, subjects, True)]
        if rng.random() < 0.35:
            trials.append(trial(rng.date_between(first, AS_OF - timedelta(days=1)), subjects, rng.random() < 0.7))
        talk = contacts(rng.randint(1, 8), created, AS_OF - timedelta(days=1))
        if rng.random() < 0.25:   # paid a deposit, not yet enrolled
            payments.append({"paid_on": rng.date_between(first, AS_OF - timedelta(days=1)).isoformat(), "kind": "定金",
                             "amount": rng.choice([500, 1000, 2000]), "pay_method": "微信支付"})
    elif arch == "enrolled":
        created = days_ago(20, 340)
        paid = rng.date_between(max(created + timedelta(days=5), date(2025, 11, 20)), AS_OF - timedelta(days=2))
        if rng.random() < 0.2:   # a 12-month package bought a year ago: due for renewal this month
            paid = rng.date_between(date(2025, 11, 5), date(2025, 11, 28))
            created = min(created, paid - timedelta(days=rng.randint(10, 60)))
        trials = [trial(rng.date_between(created, paid), subjects, True, happy=True)]
        p = package(paid, "新报")
        if paid < date(2025, 12, 1) or date.fromisoformat(p["valid_until"]) < AS_OF - timedelta(days=20):
            p["lessons"], p["valid_until"] = 48, (paid + timedelta(days=365)).isoformat()
            p["amount"] = 48 * rng.choice([180, 220, 260])
        payments = [p]
        if rng.random() < 0.1:
            payments.append({"paid_on": rng.date_between(paid, AS_OF - timedelta(days=1)).isoformat(), "kind": "退费",
                             "amount": rng.choice([1200, 2600, 4800]), "pay_method": "微信支付"})
        talk = contacts(rng.randint(2, 12), created, AS_OF - timedelta(days=1))
    elif arch == "renewed":
        created = rng.date_between(date(2024, 9, 1), date(2025, 6, 20))
        paid = rng.date_between(max(created + timedelta(days=5), WINDOW_START + timedelta(days=5)), date(2025, 6, 30))
        trials = [trial(rng.date_between(max(created, WINDOW_START), paid), subjects, True, happy=True)]
        p = package(paid, "新报")
        p["lessons"], p["valid_until"], p["amount"] = 48, (paid + timedelta(days=365)).isoformat(), 48 * 220
        payments = [p]
        end = paid + timedelta(days=365)
        while True:
            renew_on = end - timedelta(days=rng.randint(5, 40))
            q = package(renew_on, "续费")
            q["lessons"], q["amount"] = 48, 48 * rng.choice([200, 220, 240])
            end = end + timedelta(days=365)
            q["valid_until"] = end.isoformat()
            payments.append(q)
            if end > AS_OF + timedelta(days=10) or renew_on > AS_OF - timedelta(days=40):
                break
        talk = contacts(rng.randint(4, 15), max(created, WINDOW_START), AS_OF - timedelta(days=1))
    elif arch == "lost_expired":
        created = rng.date_between(date(2024, 8, 1), date(2025, 6, 1))
        paid = rng.date_between(max(created + timedelta(days=5), WINDOW_START + timedelta(days=3)), date(2025, 8, 31))
        trials = [trial(rng.date_between(max(created, WINDOW_START), paid), subjects, True)]
        p = package(paid, "新报")
        if p["lessons"] == 24 and paid > date(2026, 3, 1):
            p["valid_until"] = (paid + timedelta(days=183)).isoformat()
        payments = [p]
        talk = contacts(rng.randint(1, 8), max(created, WINDOW_START), date.fromisoformat(p["valid_until"]))
    else:   # lost_flag: the parent said no
        lost = True
        created = days_ago(30, 600)
        lo = max(created, WINDOW_START)
        if rng.random() < 0.4:
            paid = rng.date_between(lo + timedelta(days=5), AS_OF - timedelta(days=60))
            trials = [trial(rng.date_between(lo, paid), subjects, True)]
            payments = [package(paid, "新报")]
            payments.append({"paid_on": rng.date_between(paid, AS_OF - timedelta(days=10)).isoformat(), "kind": "退费",
                             "amount": rng.choice([2000, 3600, 5200]), "pay_method": "银行转账"})
        elif rng.random() < 0.6:
            trials = [trial(rng.date_between(lo, AS_OF - timedelta(days=20)), subjects, True, happy=False)]
        talk = contacts(rng.randint(1, 5), lo, AS_OF - timedelta(days=5))

    if arch in ("enrolled", "renewed") or (arch == "lost_expired" and rng.random() < 0.5):
        s["class_teacher"] = rng.choice(USERS)
    if lost:
        s["is_lost"] = True
        s["lost_reason"] = rng.choice(LOST_REASONS)
    elif rng.random() < 0.9:
        s["is_lost"] = False
    s["owner"] = rng.choice(USERS)
    # the record was created the day before its first activity at the latest
    s["created_at"] = rng.timestamp(created - timedelta(days=1), hours=(9, 21))
    trials.sort(key=lambda t: t["trial_at"])
    payments.sort(key=lambda p: p["paid_on"])
    s["trial"] = trials
    s["payment"] = payments
    s["contact"] = talk[:15]
    return s


def main():
    rows = [build(a, i) for i, a in enumerate(rng.deal(ARCHETYPES))]
    write_customers(OUT, rows, "students", ("trial", "payment", "contact"))


if __name__ == "__main__":
    main()
