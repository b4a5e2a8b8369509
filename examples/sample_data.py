"""What the industry templates' sample-data generators share (examples/<template>/generate.py).

Each template ships 240 sample customers drawn from a fixed seed, so that its
customers.jsonl is the same on every machine and classifies the same way as of
AS_OF. The generators differ in what they draw, not in how they draw it: the
calendar, the users, person names, phone numbers, unique values, timestamps
and the JSON Lines output are defined here once.

Standard library only, like the generators, so that they run without the
project installed. Every draw here consumes the generator's one random stream,
so changing how a helper draws (or the order of its draws) changes the
committed customers.jsonl of every template: regenerate them all and review
the difference.
"""
import json
import random
from datetime import date, timedelta

# The day the sample data is generated for; the demo classifies as of it (designer.cli.DEMO_AS_OF).
AS_OF = date(2026, 11, 1)
WINDOW_START = AS_OF - timedelta(days=730)      # child records spread over the two years before AS_OF
TWELVE_MONTHS = AS_OF - timedelta(days=365)     # the "last 12 months" that the bundles' rules count
N_CUSTOMERS = 240
USERS = ["alice", "bob", "carol", "dave"]       # the users the bundles assign customers to (round robin)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
_MOBILE_PREFIXES = ["138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "182", "187", "188",
                    "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189", "177", "199"]


class SampleRandom(random.Random):
    """A seeded random.Random that also draws the values every template needs.

    A subclass rather than module functions taking a generator: each template
    keeps a single stream `rng`, and its own draws and these come from it in
    program order, which is what makes the output reproducible. `hours` (first
    and last hour) and `minutes` (the minute marks, or None for any minute)
    give timestamps the rhythm of the industry, such as shop hours in retail.
    """

    def __init__(self, seed, hours, minutes=None):
        super().__init__(seed)
        self.hours = hours
        self.minutes = minutes
        self._seen = set()

    def date_between(self, first, last):
        """A day from `first` to `last`, both included; `first` when `last` is before it.

        The generators compute windows such as "after sign-up, before the last
        90 days" that are empty for some customers; clamping keeps those
        customers valid instead of failing.
        """
        if last < first:
            last = first
        return first + timedelta(days=self.randint(0, (last - first).days))

    def activity_days(self, first, n, recent_bias=None, recent_days=None):
        """`n` days, in order, from `first` (WINDOW_START at the earliest) to the day before AS_OF.

        With `recent_bias`, each day falls within the last `recent_days` with
        that probability, so that active customers were visited lately and
        neglected ones long ago; without it no draw is spent on the choice.
        """
        first = max(first, WINDOW_START)
        yesterday = AS_OF - timedelta(days=1)
        days = []
        for _ in range(n):
            if recent_bias is not None and self.random() < recent_bias:
                days.append(self.date_between(max(first, AS_OF - timedelta(days=recent_days)), yesterday))
            else:
                days.append(self.date_between(first, yesterday))
        return sorted(days)

    def timestamp(self, day, hours=None):
        """An ISO 8601 time in China Standard Time on `day`, within `hours` (first, last) or the template's."""
        first, last = hours or self.hours
        hour = self.randint(first, last)
        minute = self.randint(0, 59) if self.minutes is None else self.choice(self.minutes)
        return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+08:00"

    def unique(self, draw):
        """Call `draw` until it returns a value not returned before in this data set, and remember it.

        Phone numbers, names, e-mails and serial numbers must not repeat: the
        bundles declare such fields unique or warn about duplicates. One memory
        serves all kinds because values of different kinds never look alike.
        """
        while True:
            value = draw()
            if value not in self._seen:
                self._seen.add(value)
                return value

    def mobile(self):
        """A mainland mobile number (a real carrier prefix and 8 digits) not used before in this data set."""
        return self.unique(lambda: self.choice(_MOBILE_PREFIXES) + "".join(self.choice("0123456789") for _ in range(8)))

    def full_name(self, given_names, surnames=SURNAMES):
        """A Chinese personal name, surname first; names may repeat, as they do among real customers."""
        return self.choice(surnames) + self.choice(given_names)

    def deal(self, counts):
        """The archetypes of all customers in random order, each of `counts` (archetype, how many) repeated.

        Fixed counts rather than a draw per customer, so that every tier and
        segment the templates promise occurs in the sample data.
        """
        plan = [archetype for archetype, n in counts for _ in range(n)]
        if len(plan) != N_CUSTOMERS:
            raise ValueError(f"the archetype counts add up to {len(plan)} customers, not {N_CUSTOMERS}")
        self.shuffle(plan)
        return plan


def money(amount):
    """`amount` rounded to cents; a whole amount as an integer, so that the JSON shows 1200 rather than 1200.0."""
    amount = round(amount, 2)
    return int(amount) if amount == int(amount) else amount


def omit_none(record):
    """`record` without the fields drawn as None: like the other optional fields, an empty one is absent, not null."""
    return {key: value for key, value in record.items() if value is not None}


def write_customers(path, rows, noun, children):
    """Write `rows` as JSON Lines to `path` and report how many records were written.

    Chinese text is written as is (not as \\u escapes) so that the committed
    files can be read and reviewed; `noun` names the customers and `children`
    the keys of their child records, for the report.
    """
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    n_child = sum(len(row[key]) for row in rows for key in children)
    print(f"wrote {len(rows)} {noun}, {n_child} child records to {path}")
