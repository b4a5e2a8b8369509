"""Form sections: a field's `section:` (a bundle extension) groups the entry form and the record page."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine import BundleInvalid, load_bundle_text

CRM = (Path(__file__).parent / "data" / "crm.bundle.yaml").read_text("utf-8")

#: field key -> section added to tests/data/crm.bundle.yaml (code comes back to 基本信息 after two loose fields)
SECTIONS = {"name": "基本信息", "phone": "基本信息", "stage": "跟进情况", "lost_reason": "跟进情况",
            "code": "基本信息", "spend": "基本信息"}


def sectioned(sections=SECTIONS) -> str:
    text = CRM
    for key, heading in sections.items():
        text = text.replace(f"- {{key: {key}, ", f"- {{key: {key}, section: {heading}, ", 1)
    return text


class Layout(HTMLParser):
    """[(legend or None, [data-field or readonly label, ...])] of a form, in page order."""

    def __init__(self):
        super().__init__()
        self.groups, self.depth, self.in_legend, self.in_readonly = [], 0, False, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "fieldset" and a.get("class") == "form-section":
            self.groups.append(["", []])
            self.depth = 1
        elif tag == "fieldset" and self.depth:
            self.depth += 1
        elif tag == "legend" and self.depth == 1:
            self.in_legend = True
        elif tag == "div" and "field" in (a.get("class") or "").split():
            if not self.depth and (not self.groups or self.groups[-1][0] is not None):
                self.groups.append([None, []])
            self.groups[-1][1].append(a.get("data-field") or "readonly")

    def handle_endtag(self, tag):
        if tag == "legend":
            self.in_legend = False
        elif tag == "fieldset" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.groups.append([None, []])

    def handle_data(self, data):
        if self.in_legend:
            self.groups[-1][0] += data.strip()

    def layout(self, page):
        start = page.index("record-form")
        self.feed(page[start:page.index("</form>", start)])
        return [(heading, fields) for heading, fields in self.groups if fields]


def test_consecutive_fields_with_the_same_section_form_one_group():
    customer = load_bundle_text(sectioned()).objects["customer"]
    assert [(h, [f.key for f in fs]) for h, fs in customer.sections()] == [
        ("基本信息", ["name", "phone"]), ("跟进情况", ["stage", "lost_reason"]),
        (None, ["annual_revenue", "region"]), ("基本信息", ["code", "spend"])]
    assert customer.sections({"name", "stage", "region"}) == [
        ("基本信息", [customer.fields["name"]]), ("跟进情况", [customer.fields["stage"]]),
        (None, [customer.fields["region"]])]
    assert load_bundle_text(CRM).objects["customer"].sections()[0][0] is None


@pytest.mark.parametrize("value,message", [("'  '", "required form"), ("[a, b]", "expected text"),
                                           ("'" + "长" * 101 + "'", "at most 100 characters")])
def test_a_section_is_a_non_blank_short_text(value, message):
    text = CRM.replace("- {key: phone, ", f"- {{key: phone, section: {value}, ", 1)
    with pytest.raises(BundleInvalid) as info:
        load_bundle_text(text)
    [problem] = info.value.problems
    assert problem.path == "objects.customer.fields[1].section" and problem.line == 13 and message in problem.message


@pytest.fixture
def crm(publish):
    return publish(sectioned())


def test_the_entry_form_shows_a_fieldset_per_section(crm, login):
    alice = login("alice")
    page = alice.get("/o/customer/new").get_data(as_text=True)
    assert Layout().layout(page) == [
        ("基本信息", ["name", "phone"]), ("跟进情况", ["stage", "lost_reason"]),
        (None, ["annual_revenue", "region"]), ("基本信息", ["readonly"])]  # code: assigned when saved
    assert "<legend>跟进情况</legend>" in page


def test_a_saved_record_groups_its_values_and_edits_in_sections(crm, login):
    alice = login("alice")
    response = alice.post("/o/customer/new", data={"name": "分组公司", "stage": "成交", "annual_revenue": "10"})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = alice.get(response.headers["Location"]).get_data(as_text=True)
    details = page[page.index("<h2>详情</h2>") if "<h2>详情</h2>" in page else page.index('class="section-heading"'):]
    assert [h for h in ("基本信息", "跟进情况") if f'<h3 class="section-heading">{h}</h3>' in details] == ["基本信息", "跟进情况"]
    assert details.index("跟进情况") < details.index("年采购额") < details.rindex("基本信息") < details.index("KH-2026-")
    record_id = response.headers["Location"].rstrip("/").split("/")[-1]
    edit = alice.get(f"/r/{record_id}/edit").get_data(as_text=True)
    assert Layout().layout(edit)[0] == ("基本信息", ["name", "phone"])
