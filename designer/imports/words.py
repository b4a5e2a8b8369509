"""Words that go into files and row reports, in the bundle's locale (like the engine's record messages).

Imported rows are checked in a background thread or on the command line,
where there is no web request and so no UI language; what a row's problem
says, and the headings an export or error file carries, follow the bundle
(zh-CN by default), as field labels and the engine's own messages do.
"""
from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "owner": "负责人", "pool": "公海", "created_at": "创建时间", "updated_at": "更新时间", "why": "{label}（原因）",
        "yes": "是", "no": "否", "row": "原行号", "error": "错误", "sep": "；", "colon": "：",
        "no_parent_key": "没有填写所属{parent}", "no_parent": "找不到{field}为「{value}」的{parent}",
        "many_parents": "{field}为「{value}」的{parent}不止一条，无法确定所属记录",
        "many_duplicates": "与多条已有记录重复，无法确定要更新哪一条",
        "not_yours": "重复的记录「{title}」不在你的权限范围内，不能更新",
        "stale": "记录在导入时被他人修改",
        "skipped": "跳过：{message}", "new_anyway": "仍作为新记录导入：{message}",
    },
    "en": {
        "owner": "Owner", "pool": "Public pool", "created_at": "Created", "updated_at": "Updated", "why": "{label} (why)",
        "yes": "yes", "no": "no", "row": "Row", "error": "Error", "sep": "; ", "colon": ": ",
        "no_parent_key": "no {parent} given", "no_parent": "no {parent} with {field} “{value}”",
        "many_parents": "more than one {parent} has {field} “{value}”; cannot tell which one is meant",
        "many_duplicates": "duplicates more than one existing record; cannot tell which one to update",
        "not_yours": "the duplicate “{title}” is not a record you may change",
        "stale": "the record was changed by someone else during the import",
        "skipped": "skipped: {message}", "new_anyway": "imported as new anyway: {message}",
    },
}


def words(bundle) -> dict[str, str]:
    return WORDS.get(bundle.locale) or WORDS["zh-CN" if bundle.locale.startswith("zh") else "en"]
