"""Messages the engine shows to people who fill in records, in the bundle's locale.

Bundle problems are for the author and are written in English (with the
offending names quoted); record problems are shown to sales reps on forms and
in imports, so they come in the bundle's `locale` (zh-CN by default).
"""
from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "required": {"zh-CN": "必填", "en": "is required"},
    "not_number": {"zh-CN": "应为数字，收到 {value}", "en": "expected a number, got {value}"},
    "not_integer": {"zh-CN": "应为整数，收到 {value}", "en": "expected a whole number, got {value}"},
    "too_small": {"zh-CN": "不能小于 {min}", "en": "must be at least {min}"},
    "too_large": {"zh-CN": "不能大于 {max}", "en": "must be at most {max}"},
    "percent_range": {"zh-CN": "百分比应在 0 到 100 之间", "en": "a percentage is between 0 and 100"},
    "too_long": {"zh-CN": "最多 {max} 个字符（现有 {length} 个）", "en": "at most {max} characters (has {length})"},
    "pattern": {"zh-CN": "格式不符合要求", "en": "does not match the required pattern"},
    "not_bool": {"zh-CN": "应为 是/否，收到 {value}", "en": "expected yes or no, got {value}"},
    "not_date": {"zh-CN": "应为日期 YYYY-MM-DD，收到 {value}", "en": "expected a date YYYY-MM-DD, got {value}"},
    "not_datetime": {"zh-CN": "应为日期时间（如 2026-03-15 10:00），收到 {value}",
                     "en": "expected a date and time (e.g. 2026-03-15T10:00), got {value}"},
    "not_option": {"zh-CN": "{value} 不是可选项；可选：{options}", "en": "{value} is not an option; choose from {options}"},
    "not_phone": {"zh-CN": "{value} 不是有效的电话号码（手机 11 位，或带国家码的 +号码）",
                  "en": "{value} is not a phone number (11-digit mobile, or + and country code)"},
    "not_email": {"zh-CN": "{value} 不是有效的邮箱地址", "en": "{value} is not an e-mail address"},
    "not_url": {"zh-CN": "{value} 不是 http(s) 网址", "en": "{value} is not an http(s) address"},
    "not_region": {"zh-CN": "{value} 应为 省/市/区 形式，如 广东省/深圳市/南山区",
                   "en": "{value} should be 省/市/区, e.g. 广东省/深圳市/南山区"},
    "not_user": {"zh-CN": "{value} 不是有效的用户名", "en": "{value} is not a username"},
    "not_text": {"zh-CN": "应为文本，收到 {value}", "en": "expected text, got {value}"},
    "not_list": {"zh-CN": "应为多个选项的列表", "en": "expected a list of options"},
    "not_children": {"zh-CN": "应为子记录列表", "en": "expected a list of child records"},
    "not_record": {"zh-CN": "应为一条记录（键值对象）", "en": "expected a record (an object of fields)"},
    "readonly": {"zh-CN": "只读字段，不能修改", "en": "is read-only"},
    "unknown_field": {"zh-CN": "没有字段 {key}", "en": "there is no field {key}"},
    "duplicate": {"zh-CN": "与已有记录「{title}」重复（{where}）", "en": "duplicates the existing record “{title}” ({where})"},
    "owned_by": {"zh-CN": "负责人 {owner}", "en": "owned by {owner}"},
    "in_pool": {"zh-CN": "在公海「{pool}」中", "en": "in the public pool {pool}"},
    "no_owner": {"zh-CN": "无负责人", "en": "no owner"},
    "too_many_decimals": {"zh-CN": "最多 {decimals} 位小数", "en": "at most {decimals} decimals"},
}


def message(locale: str, code: str, **params) -> str:
    entry = CATALOG[code]
    text = entry.get(locale) or entry.get(locale.split("-")[0]) or entry["en"]
    return text.format(**params)
