"""The words people head Excel columns with, grouped by what they mean.

A sheet kept by hand rarely uses the bundle's labels: `客户名称` for a field
labelled 公司名称, `手机` for 联系人手机, `来源` for 线索来源. Headings and
labels that fall in one group are taken for the same thing (`mapping.judge`
still asks the importer to check such a guess). A group may name the field
type that holds it, so that `电话` finds the one phone field whatever its
label. Terms are compared after `mapping.normalised` (NFKC, case folded, no
spaces).
"""
from __future__ import annotations

#: (field type the group's fields usually have or None, terms)
GROUPS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("客户名称", "公司名称", "企业名称", "单位名称", "客户全称", "公司全称", "企业全称", "客户名", "公司名",
            "企业名", "名称", "公司", "企业", "单位", "客户", "name", "company", "companyname", "customer")),
    (None, ("联系人", "联系人姓名", "客户联系人", "对接人", "姓名", "contact", "contactname")),
    ("phone", ("手机", "手机号", "手机号码", "移动电话", "联系电话", "电话", "电话号码", "联系方式", "联系人手机",
               "联系人电话", "联系手机", "mobile", "phone", "tel", "telephone", "cellphone")),
    ("email", ("邮箱", "电子邮箱", "邮件", "电子邮件", "邮箱地址", "联系人邮箱", "email", "e-mail", "mail")),
    ("region", ("地区", "所在地区", "区域", "省市", "省市区", "所在地", "所在城市", "城市", "省份", "region",
                "area", "city")),
    (None, ("地址", "详细地址", "通讯地址", "公司地址", "联系地址", "address")),
    ("url", ("网站", "官网", "网址", "主页", "公司网站", "website", "url", "homepage")),
    (None, ("行业", "所属行业", "行业类别", "行业分类", "industry")),
    (None, ("规模", "企业规模", "公司规模", "人员规模", "员工人数", "人数", "size", "companysize")),
    (None, ("来源", "线索来源", "客户来源", "渠道", "来源渠道", "获客渠道", "source", "channel")),
    (None, ("阶段", "销售阶段", "客户阶段", "跟进阶段", "stage")),
    (None, ("备注", "说明", "描述", "备注说明", "remark", "remarks", "note", "notes")),
)
