"""Duplicate checks (SPEC §2 `unique`, 查重): the key a value is stored and compared under.

Two values are duplicates when their keys are equal, so the key has to forget
exactly what people vary when they type the same thing twice: case, full-width
forms and white space for any field; the mobile-number prefixes for phones; and,
for `match: company`, punctuation, brackets, a leading or bracketed place name
and the legal form. What a key never forgets is what tells two companies apart:
the trade name (字号), the line of business (华为技术 is not 华为终端) and a
branch (智云科技上海分公司 is not 智云科技).

How a company name becomes its key (normalize_company):

1. NFKC and casefold: （杭州） is (杭州), ＡＢＣ is abc.
2. A branch (分公司, 分行, 办事处, …) keeps its own key: the company's key,
   then the branch's place in short form, then the marker, so
   `智云科技有限公司上海分公司` and `杭州智云科技上海市分公司` agree and neither
   equals `智云科技`. The company ends at its last legal form if it has one,
   else before a place name that ends the text before the marker.
3. Bracketed text is dropped when it is only place names (province, city or
   district, full or short, or 中国/China) or a legal form (集团, 有限合伙);
   any other bracketed text stays, without its brackets. Nothing is dropped
   that would leave fewer than two characters.
4. Punctuation and spaces go, and trailing legal forms are stripped, Chinese
   (有限公司, 股份有限公司, 有限责任公司, 集团, 公司, 有限, …) and English words (Co., Ltd.,
   Limited, Inc., Corp., LLC, Company, Group, …), repeatedly, never the last word.
5. Leading place names are stripped, longest first and repeatedly: a
   province, a prefecture city or 中国 in full or short form (浙江省, 浙江,
   杭州市, 杭州, 恩施州), or a county or district in full form (余姚市, 西湖区).
   A county or district in short form (西湖, 海淀) is stripped only right after
   the province or city it lies in (杭州西湖, 北京海淀), because alone such
   two-character names are as often trade names (长安汽车, 平安保险, 太平洋).
   A full form whose last character begins a generic word is read as the short
   form: 上海市场营销 is 上海 + 市场营销.
6. A leading place is kept when what would remain is shorter than two
   characters or made only of generic words (大学, 人民医院, 农村商业银行,
   电子科技大学, 第一中学): 北京大学 stays 北京大学, not 大学, and 杭州市第一人民医院
   stays apart from 上海市第一人民医院. A kept place is written in short form, so
   北京市大学 and 北京大学 agree.

By design, the same trade name in two cities compares equal (杭州智云科技 and
上海智云科技); that is SPEC's "differ only in a leading place name". English
names keep place words other than China: there are no pinyin names in the data.
A key is for comparing, not for showing: 阿里巴巴 keys as 巴巴 (阿里 is 阿里地区),
harmlessly, since every spelling of it does the same.
"""
from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import NamedTuple

from .fields import is_empty_input, normalize_phone
from .regions import PSEUDO, load_regions, place_names, short_forms, short_name


def normalize_text(value: str) -> str:
    """SPEC §2 `unique: true`: full-width to half-width (NFKC), casefold, runs of white space to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


#: Chinese legal forms, longest first so 股份有限公司 is not read as 股份 + 有限公司
_LEGAL_ZH = ("集团股份有限公司", "集团有限责任公司", "集团有限公司", "股份有限公司", "有限责任公司", "有限公司", "股份公司",
             "总公司", "有限合伙", "普通合伙", "公司", "集团", "有限")
_LEGAL_ZH_END = re.compile("(?:" + "|".join(_LEGAL_ZH) + ")$")
_LEGAL_ZH_ANY = re.compile("|".join(_LEGAL_ZH))
#: English legal forms, as words once punctuation is gone (Co., Ltd. -> co ltd)
_LEGAL_EN = frozenset({"co", "company", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "llc", "plc",
                       "group"})
#: a branch is its own company for a duplicate check
_BRANCH = re.compile(r"(分公司|分厂|分店|分行|支行|办事处|营业部|分部)[\W_]*$")
_BRACKET = re.compile(r"[(\[{【〔〈《「『]([^()\[\]{}【】〔〕〈〉《》「」『』]*)[)\]}】〕〉》」』]")
_WORD = re.compile(r"[^\W_]+")
#: words that say what kind of organisation or business, not which one; a name left with only these
#: after a leading place is stripped keeps its place (北京大学, 杭州银行, 杭州市第一人民医院)
_GENERIC = frozenset("""
科技 技术 信息 网络 软件 电子 数码 数字 智能 通信 通讯 数据 互联网 计算机 电子商务 电商 供应链
贸易 商贸 工贸 实业 投资 控股 资本 金融 银行 保险 证券 基金 信托 租赁 担保 农村 城市 商业 合作 联合
发展 开发 建设 咨询 管理 服务 顾问 营销 策划 市场 广告 传媒 文化 传播 影视 出版 印刷 设计 人力资源
教育 培训 学校 大学 学院 医学院 中学 小学 幼儿园 职业 研究院 研究所 实验 师范 理工 工业 农业 林业 外国语
医疗 医药 医院 中医 卫生 健康 保健 妇幼 儿童 口腔 生物 制药 药业
建筑 建材 工程 装饰 房地产 地产 置业 物业 物流 运输 快递 航空 航运 交通 铁路 汽车
食品 餐饮 饭店 酒店 旅游 体育 能源 电力 电气 电器 化工 材料 钢铁 机械 设备 制造 五金 纺织 服装 家居 环保
人民 政府 中心 附属 国际 协会 商会 学会 委员会 超市 百货 商场
厂 店 行 社 所 局 院 馆 部 站 场
""".split())
_GENERIC_LONGEST = max(map(len, _GENERIC))
_ORDINAL = re.compile(r"第[一二三四五六七八九十百零〇\d]+")


def _squash(text: str) -> str:
    """Letters and digits only: punctuation, brackets and spaces gone."""
    return "".join(_WORD.findall(text))


class _Places(NamedTuple):
    anywhere: frozenset[str]  # may lead a name on their own
    below: dict[str, frozenset[str]]  # province or city form -> the county and district forms inside it
    bracketed: frozenset[str]  # may stand in brackets
    longest: int


@cache
def _places() -> _Places:
    top, districts, below = {"中国"}, set(), {}
    for province, cities in load_regions().items():
        inside_province = set()
        for city, names in cities.items():
            inside_city = set(names) - PSEUDO
            inside_city = inside_city.union(*map(short_forms, inside_city))
            districts.update(names)
            inside_province |= inside_city
            if city not in PSEUDO:
                top.add(city)
                for form in {city, *short_forms(city)}:
                    below[form] = below.get(form, frozenset()) | inside_city
        top.add(province)
        for form in {province, *short_forms(province)}:
            below[form] = below.get(form, frozenset()) | inside_province
    districts -= PSEUDO
    top = top.union(*map(short_forms, top))
    bracketed = frozenset(place_names() | {"中国", "china"})
    return _Places(frozenset(top | districts), below, bracketed, max(map(len, bracketed)))


def _is_generic(text: str) -> bool:
    """Whether `text` splits wholly into _GENERIC words and ordinals (第一)."""
    ok = [True] + [False] * len(text)  # ok[i]: text[:i] splits
    for i in range(len(text)):
        if not ok[i]:
            continue
        m = _ORDINAL.match(text, i)
        if m:
            ok[m.end()] = True
        for j in range(i + 1, min(len(text), i + _GENERIC_LONGEST) + 1):
            if text[i:j] in _GENERIC:
                ok[j] = True
    return ok[-1]


def _only_places(text: str) -> bool:
    """Whether `text` (squashed) is one or more place names in a row: 杭州, 浙江杭州, 中国."""
    places = _places()
    while text:
        for size in range(min(places.longest, len(text)), 0, -1):
            if text[:size] in places.bracketed:
                text = text[size:]
                break
        else:
            return False
    return True


def _drop_brackets(text: str) -> str:
    def one(m: re.Match) -> str:
        inner = _squash(m.group(1))
        if not inner or _only_places(inner) or _LEGAL_ZH_END.fullmatch(inner) or inner in _LEGAL_EN:
            rest = _squash(m.string[:m.start()] + m.string[m.end():])
            if len(rest) >= 2:
                return " "
        return f" {m.group(1)} "

    while True:
        done = _BRACKET.sub(one, text)
        if done == text:
            return text
        text = done


def _strip_legal(text: str) -> str:
    """Letters and digits of `text` without its trailing legal forms, keeping at least one word."""
    words = _WORD.findall(text)
    while words:
        last = words[-1]
        m = _LEGAL_ZH_END.search(last)
        if m and m.start() > 0:
            words[-1] = last[:m.start()]
        elif len(words) > 1 and (m or last in _LEGAL_EN):
            words.pop()
        else:
            break
    return "".join(words)


def _starts_generic(text: str, i: int) -> bool:
    """Whether a generic word of two or more characters starts at text[i] (市场 in 上海市场营销)."""
    return any(text[i:j] in _GENERIC for j in range(i + 2, min(len(text), i + _GENERIC_LONGEST) + 1))


def _leading_place(core: str, inside: frozenset[str]) -> str | None:
    """The longest place name `core` starts with (a place on its own, or a county or district `inside` the one
    just stripped), unless its last character begins a generic word: 上海市场营销 is 上海 + 市场营销."""
    places = _places()
    for size in range(min(places.longest, len(core) - 1), 1, -1):
        head = core[:size]
        if (head in places.anywhere or head in inside) and not (size > 2 and _starts_generic(core, size - 1)):
            return head
    return None


def _strip_places(core: str) -> str:
    inside: frozenset[str] = frozenset()
    while (place := _leading_place(core, inside)) is not None:
        rest = core[len(place):]
        if len(rest) < 2 or _is_generic(rest):
            return short_name(place) + rest
        core, inside = rest, _places().below.get(place, frozenset())
    return core


def _company_key(text: str) -> str:
    return _strip_places(_strip_legal(_drop_brackets(text)))


def _split_branch(head: str) -> tuple[str, str]:
    """(company, branch place) of what comes before a branch marker."""
    ends = [m.end() for m in _LEGAL_ZH_ANY.finditer(head)]
    if ends and _squash(head[:ends[-1]]):  # official form: the full company name, then the branch
        return head[:ends[-1]], head[ends[-1]:]
    bracketed = _places().bracketed
    for k in range(1, len(head)):
        if _squash(head[:k]) and _squash(head[k:]) in bracketed:
            return head[:k], head[k:]
    return head, ""


def normalize_company(name: str) -> str:
    """The key of a company name for `match: company`; see the module docstring for the rules."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    m = _BRANCH.search(text)
    if m and _squash(text[:m.start()]):
        company, place = _split_branch(text[:m.start()])
        place = _squash(place)
        return _company_key(company) + short_name(place) + m.group(1)
    return _company_key(text)


def duplicate_key(field_type: str, unique_spec, value) -> str | None:
    """The key to store and compare for a field with `unique` (True or {mode, match}); None when there is none.

    None for a field that is not unique and for an empty value (SPEC §2: empty
    is null, and nulls never clash).
    """
    if not unique_spec or is_empty_input(value):
        return None
    match = unique_spec.get("match", "exact") if isinstance(unique_spec, dict) else "exact"
    if match not in ("exact", "company"):
        raise ValueError(f"unique.match must be exact or company, not {match!r}")
    if isinstance(value, (list, tuple)):  # a multiselect: the same options in any order
        return "\n".join(sorted({normalize_text(str(v)) for v in value})) or None
    text = str(value)
    if field_type == "phone":
        return normalize_phone(text) or normalize_text(text)
    if match == "company":
        return normalize_company(text) or None
    return normalize_text(text) or None
