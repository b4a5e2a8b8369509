// The entry form as a rep will see it, drawn from the draft's field list: the builder's live
// preview, and the tester's "type a record" form (whose values it can collect).
import {el, t} from "./common.js";
import {optionText} from "./fields.js";
import {groups} from "./sections.js";

function input(f, id) {
  const common = {id, name: f.key, "data-key": f.key, "data-type": f.type};
  switch (f.type) {
    case "textarea": return el("textarea", {...common, rows: 3});
    case "boolean": return el("select", common, el("option", {value: ""}, "—"), el("option", {value: "true"}, t("yes")), el("option", {value: "false"}, t("no")));
    case "select": return el("select", common, el("option", {value: ""}, "—"),
      ...(f.options || []).map((o) => el("option", {value: typeof o === "object" && o ? o.value : o}, optionText(o))));
    case "multiselect": return el("ul", {class: "checks", "data-key": f.key},
      ...(f.options || []).map((o, i) => el("li", {}, el("label", {class: "inline"},
        el("input", {type: "checkbox", name: f.key, value: typeof o === "object" && o ? o.value : o, id: `${id}-${i}`}), optionText(o)))));
    case "date": return el("input", {...common, type: "date"});
    case "datetime": return el("input", {...common, type: "datetime-local"});
    case "integer": case "number": case "money": case "percent":
      return el("input", {...common, inputmode: "decimal", placeholder: f.type === "money" ? "¥" : f.type === "percent" ? "%" : ""});
    case "email": return el("input", {...common, type: "email"});
    case "phone": return el("input", {...common, type: "tel"});
    case "url": return el("input", {...common, type: "url"});
    case "region": return el("input", {...common, placeholder: t("region_hint")});
    default: return el("input", {...common, type: "text"});
  }
}

/** A form of `fields` (the draft's list), each section a fieldset as on the rep's form.
 *  Computed and autonumber fields show as read-only notes. */
export function renderForm(fields, prefix) {
  const form = el("form", {class: "form preview-form", novalidate: true, onsubmit: (e) => e.preventDefault()});
  for (const group of groups(fields)) {
    const boxes = group.items.filter(({field}) => field && field.key).map(({field, index}) => fieldBox(field, index, prefix));
    if (!boxes.length) continue;
    if (group.section === null) form.append(...boxes);
    else form.append(el("fieldset", {class: "form-section"}, el("legend", {}, group.section), ...boxes));
  }
  if (!form.children.length) form.append(el("p", {class: "empty"}, t("no_fields_yet")));
  return form;
}

function fieldBox(f, i, prefix) {
  const id = `${prefix || "pv"}-${f.key}`;
  const label = f.label || f.key;
  const notes = [];
  if (f.visible_if) notes.push(el("span", {class: "tag"}, t("shown_if", {expr: f.visible_if})));
  if (f.required_if) notes.push(el("span", {class: "tag"}, t("required_if_note", {expr: f.required_if})));
  const div = el("div", {class: "field" + (f.required ? " required" : ""), dataset: {field: f.key, index: i}});
  if (f.formula !== undefined && f.formula !== null) {
    div.append(el("span", {class: "label"}, label), el("p", {class: "value meta"}, t("computed", {expr: f.formula})));
  } else if (f.type === "autonumber") {
    div.append(el("span", {class: "label"}, label), el("p", {class: "value meta"}, t("assigned_on_save")));
  } else if (f.type === "multiselect") {
    div.append(el("fieldset", {}, el("legend", {}, label, el("span", {class: "req", "aria-hidden": "true"}, "*")), input(f, id)));
  } else {
    div.append(el("label", {for: id}, label, el("span", {class: "req", "aria-hidden": "true"}, "*")), input(f, id));
  }
  if (notes.length) div.append(el("p", {class: "help"}, ...notes));
  if (f.help) div.append(el("p", {class: "help"}, f.help));
  return div;
}

/** The values typed into a form made by renderForm, as the API takes them (empty boxes left out). */
export function collectValues(form) {
  const out = {};
  form.querySelectorAll("[data-key]").forEach((node) => {
    const key = node.dataset.key;
    if (node.tagName === "UL") {
      const picked = [...node.querySelectorAll("input:checked")].map((c) => c.value);
      if (picked.length) out[key] = picked;
    } else if (node.value !== "") {
      out[key] = node.dataset.type === "boolean" ? node.value === "true" : node.value;
    }
  });
  return out;
}
