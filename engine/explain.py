"""Explanations in plain words: "why this tier", for record pages, exports and the demo."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from .classify import Result

_WORDS = {
    "zh-CN": {"held": "命中规则 {n}「{label}」", "default": "没有规则命中，取默认值", "read": "依据：{items}",
              "none": "没有规则命中", "empty": "空", "yes": "是", "no": "否", "colon": "：", "sep": "；", "list_sep": "、", "points": "（{points:+} 分）", "base": "基础分 {base}",
              "system": {"id": "编号", "created_at": "创建时间", "updated_at": "更新时间", "owner": "负责人"}},
    "en": {"held": "rule {n} “{label}” held", "default": "no rule held, so the default applies", "read": "based on: {items}",
           "none": "no rule held", "empty": "empty", "yes": "yes", "no": "no", "colon": ": ", "sep": "; ", "list_sep": ", ", "points": " ({points:+} points)", "base": "base {base}",
           "system": {"id": "id", "created_at": "created", "updated_at": "updated", "owner": "owner"}},
}


def sentences(result: Result) -> dict[str, str]:
    """Classification key -> one readable sentence saying why it has its value."""
    return describe(result.classifier, result.explain())


def describe(clf, explained: dict) -> dict[str, str]:
    """Sentences for an explanation as `Result.explain()` gives it or as it was stored (JSON)."""
    bundle = clf.bundle
    words = _WORDS.get(bundle.locale) or _WORDS["zh-CN" if bundle.locale.startswith("zh") else "en"]
    labels = dict(words["system"])
    labels.update({k: f.label for k, f in clf.object.fields.items()})
    labels.update({c.key: c.label for c in bundle.classifications if c.object == clf.object.key})
    out = {}
    for c in clf.classifications:
        entry = explained.get(c.key)
        if entry is None:
            continue
        parts = []
        if not entry["rules"] and c.hit != "first":
            out[c.key] = _show(entry["value"], words, bundle.tz) + words["colon"] + words["none"]
            continue
        if entry["default"] or not entry["rules"]:
            parts.append(words["default"])
        for rule in entry["rules"]:
            text = words["held"].format(n=rule["index"] + 1, label=rule["label"] or rule["when"])
            if c.hit == "sum":
                text += words["points"].format(points=rule["points"])
            parts.append(text)
        if c.hit == "sum":
            parts.insert(0, words["base"].format(base=c.base))
        read = entry["read"] if entry["default"] or not entry["rules"] else {
            k: v for rule in entry["rules"] for k, v in rule["read"].items()}
        read = {k: read[k] for k in _read_order(clf, c) if k in read} | read  # JSONB keeps no key order
        items = [f"{labels.get(name, name)} = {_show(value, words, bundle.tz)}" for name, value in read.items()]
        if items:
            parts.append(words["read"].format(items=words["list_sep"].join(items)))
        out[c.key] = _show(entry["value"], words, bundle.tz) + words["colon"] + words["sep"].join(parts)
    return out


def _read_order(clf, c) -> list[str]:
    """Names and aggregates in the order the classification's rules read them."""
    out: list[str] = []
    for rule in c.rules:
        names, texts = clf.rule_reads[(c.key, rule.index)]
        out += [n for n in (*names, *texts) if n not in out]
    return out


def _show(value, words, tz) -> str:
    if value is None or value == []:
        return words["empty"]
    if isinstance(value, bool):
        return words["yes"] if value else words["no"]
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[10:11] == "T":
        try:  # a datetime as stored in JSON
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.days}d" if value % timedelta(days=1) == timedelta(0) else str(value)
    if isinstance(value, Decimal):
        return f"{value:,f}" if value != value.to_integral_value() else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return words["list_sep"].join(map(str, value))
    return str(value)
