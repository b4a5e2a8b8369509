"""The import template: an empty workbook an object's records are typed into, which then imports without help.

What 简道云 and Salesforce hand out before an import: a sheet per object whose
headings are the field labels (required ones marked `*`, which the mapping
reads past), so every column maps exactly; a select column offers its
options as an Excel drop-down (the lists on a hidden sheet: an inline list is
capped at 255 characters), so its values are options; a note on each
heading says what the cell takes (a date, one of the options, several of them
separated by 、, 是/否). Each child object gets a sheet of its own whose first
column names the parent by its title, as the mapping page expects of a
second sheet. Nothing is typed into the data rows: whatever is there is
imported.
"""
from __future__ import annotations

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from .choices import CHOICE_TYPES, options_of
from .mapping import match_fields, targets

#: rows of a sheet the drop-downs and formats are set on (Excel stores a range, not rows)
ROWS = 10_000

_HINTS = {
    "zh": {"date": "日期，如 2026-03-01", "datetime": "日期和时间，如 2026-03-01 14:30",
           "select": "从下拉列表中选择：{options}", "multiselect": "可选多个，用、分隔：{options}",
           "boolean": "是 或 否", "money": "金额（元），只填数字", "number": "数字", "integer": "整数",
           "percent": "百分数，如 12.5", "phone": "手机号或带区号的座机号", "email": "电子邮箱",
           "url": "网址", "region": "省/市/区，如 广东省/深圳市/南山区", "user": "用户名，如 zhangsan",
           "required": "必填。", "parent": "所属{parent}的{field}：每行写明它属于哪一条{parent}",
           "options": "选项"},
    "en": {"date": "A date, e.g. 2026-03-01", "datetime": "A date and time, e.g. 2026-03-01 14:30",
           "select": "Pick from the drop-down: {options}", "multiselect": "One or more, separated by 、: {options}",
           "boolean": "yes or no", "money": "An amount, digits only", "number": "A number",
           "integer": "A whole number", "percent": "A percentage, e.g. 12.5", "phone": "A phone number",
           "email": "An e-mail address", "url": "A web address",
           "region": "Province/city/district, e.g. 广东省/深圳市/南山区", "user": "A user name, e.g. zhangsan",
           "required": "Required. ", "parent": "The {parent}'s {field}: each row names the {parent} it belongs to",
           "options": "Options"},
}
_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm"}
#: columns of these types hold long texts: wider than their heading
_WIDE = ("text", "textarea", "region", "email", "url", "multiselect")
_HEAD = PatternFill("solid", fgColor="F2F4F7")


def write_template(bundle, obj, out, *, lang: str = "zh"):
    """Write the template workbook for importing records of `obj` (and its child objects) to `out`."""
    words = _HINTS["en" if lang == "en" else "zh"]
    wb = Workbook()
    lists = wb.create_sheet(words["options"][:31])
    lists.sheet_state = "hidden"
    used = {"n": 0}

    def options_range(f) -> str:
        """The cells of the hidden sheet that hold `f`'s options (a column each select field)."""
        used["n"] += 1
        col = get_column_letter(used["n"])
        lists.cell(1, used["n"], f.label)
        labels = [label for _value, label in options_of(f)]
        for i, label in enumerate(labels, 2):
            lists.cell(i, used["n"], label)
        return f"{quote_sheetname(lists.title)}!${col}$2:${col}${len(labels) + 1}"

    # (object, the parent its rows name): a child object's rows alone name their parent too
    sheets = [(obj, bundle.objects[obj.parent] if obj.parent else None)] + [(bundle.objects[k], obj)
                                                                            for k in obj.children]
    for i, (o, parent) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet(o.label[:31], i)  # before the options' sheet: it stays last
        ws.title = o.label[:31]
        columns = []
        if parent is not None:
            match = next(iter(match_fields(parent)), None)
            if match is None:  # nothing to name the parent by: the rows could not be imported
                wb.remove(ws)
                continue
            columns.append((f"{match.label}*", words["parent"].format(parent=parent.label, field=match.label), None))
        for f in targets(o):
            needed = bool(f.spec.get("required")) and f.spec.get("default") is None  # a default fills it
            columns.append((f"{f.label}*" if needed else f.label, (words["required"] if needed else "") + _hint(f, words), f))
        for c, (heading, hint, f) in enumerate(columns, 1):
            cell = ws.cell(1, c, heading)
            cell.comment = Comment(hint, "tierwise", width=260, height=110)
            cell.font = Font(bold=True, color="B42318" if heading.endswith("*") else None)  # required: red
            cell.fill = _HEAD
            letter = get_column_letter(c)
            wide = f is None or f.type in _WIDE
            ws.column_dimensions[letter].width = max(24 if wide else 12, 2 * len(heading) + 4)
            if f is None:
                continue
            check = None
            if f.type == "select" and options_of(f):
                check = DataValidation(type="list", formula1=options_range(f), allow_blank=True,
                                       showErrorMessage=True, errorTitle=f.label, error=hint)
            elif f.type == "boolean":
                check = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
            if check is not None:
                check.add(f"{letter}2:{letter}{ROWS + 1}")
                ws.add_data_validation(check)
            if f.type in _FORMATS:  # the column's style: a date typed in is shown (and read) as one
                ws.column_dimensions[letter].number_format = _FORMATS[f.type]
        ws.freeze_panes = "A2"
    wb.save(out)


def _hint(f, words: dict) -> str:
    """What a cell of the field takes, in a word."""
    if f.type in CHOICE_TYPES:
        return words[f.type].format(options="、".join(label for _value, label in options_of(f)))
    return words.get(f.type, "")
