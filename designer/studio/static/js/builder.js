// The visual form builder: a palette of every field type, the object's fields (drag to reorder,
// or drag a type in from the palette), grouped under their sections (drag a field under another
// section's heading, or choose its section in the panel), a property panel for the chosen field
// and a live preview.
// Every edit is an op on the server-side draft, so comments and key order in the YAML survive.
import {Sortable} from "../vendor/vendor.js";
import {api, el, t, draft, dotted, debounce, confirmDialog, say, whenSettled} from "./common.js";
import {exprEditor, forgetCompletions, recordPicker, sample} from "./expr.js";
import {typeLabels, typeProps, starter, literal, optionText, WITH_OPTIONS, NO_UNIQUE} from "./fields.js";
import {renderForm} from "./preview.js";
import {groups, sectionOf, sectionNames, targetIndex} from "./sections.js";

const TYPES = typeLabels();
//: selected: key of the chosen field; aliases: new key -> old key while a rename is on its way to the server;
//: moves: old key -> new key of renames done, so an edit typed just before a rename still finds its field
//: pending: sections added from the palette that no field is in yet (they exist in the YAML once one is)
const page = {object: null, selected: null, autoKey: new Set(), panelFor: null, aliases: new Map(), moves: new Map(), pending: []};

const $ = (id) => document.getElementById(id);

function objects() { return (draft.doc && draft.doc.objects) || {}; }
function fields() { const o = objects()[page.object]; return (o && Array.isArray(o.fields)) ? o.fields : []; }
function indexOf(key) {
  const i = fields().findIndex((f) => f && f.key === key);
  if (i >= 0) return i;
  if (page.aliases.has(key)) return indexOf(page.aliases.get(key));
  return page.moves.has(key) ? indexOf(page.moves.get(key)) : -1;
}
function fieldPath(i) { return ["objects", page.object, "fields", i]; }
function current() { const i = indexOf(page.selected); return i < 0 ? null : fields()[i]; }

/** set a property of the chosen field, or remove it when the value is unset. */
function propOps(key, prop, value) {
  const i = indexOf(key);
  if (i < 0) return [];
  const f = fields()[i];
  if (value === undefined || value === false && prop !== "default") {
    return f[prop] === undefined ? [] : [{op: "remove", path: [...fieldPath(i), prop]}];
  }
  return [{op: "set", path: [...fieldPath(i), prop], value}];
}

function setProp(prop, value, owner = page.selected) {
  const ops = propOps(owner, prop, value);
  return ops.length ? draft.ops(ops) : Promise.resolve();
}

function uniqueKey(base, except) {
  const taken = new Set(fields().map((f) => f && f.key).filter((k) => k !== except));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

// -- objects -------------------------------------------------------------------------------------

function renderObjects() {
  const select = $("object-select");
  const keys = Object.keys(objects());
  if (!keys.includes(page.object)) page.object = keys[0] || null;
  select.replaceChildren(...keys.map((k) => el("option", {value: k}, `${objects()[k].label || k} (${k})`)));
  select.value = page.object || "";
  select.disabled = !keys.length;
}

async function addObject() {
  const label = el("input", {id: "new-object-label", required: true, value: t("customer")});
  if (!(await confirmDialog(t("new_object"), el("label", {}, t("object_label"), label), t("add")))) return;
  const text = label.value.trim();
  if (!text) return;
  const r = await api("GET", `/studio/api/key?label=${encodeURIComponent(text)}`);
  if (!r.ok) { say(r.data.error || t("server_error", {status: r.status}), "bad"); return; }
  let key = r.data.key;
  while (objects()[key]) key += "_2";
  const ops = [];
  if (!draft.doc.objects) ops.push({op: "set", path: ["objects"], value: {}});
  ops.push({op: "set", path: ["objects", key], value: {label: text, fields: []}});
  const reply = await draft.ops(ops);
  if (reply.ok) { page.object = key; renderAll(); }
}

// -- palette and list ----------------------------------------------------------------------------

async function addField(type, at, section) {
  if (!page.object) { say(t("add_object_first"), "bad"); return; }
  const list = fields();
  const index = at === undefined ? list.length : Math.min(at, list.length);
  if (at === undefined && section === undefined) {  // a click appends to the group at the bottom of the list
    section = page.pending.length ? page.pending[page.pending.length - 1] : list.length ? sectionOf(list[list.length - 1]) : null;
  }
  const key = uniqueKey(`${type}_${list.length + 1}`);
  const value = {key, type, label: TYPES[type] || type, ...starter(type, (n) => t("option_n", {n})), ...(section ? {section} : {})};
  const ops = [];
  if (!Array.isArray(objects()[page.object].fields)) ops.push({op: "set", path: ["objects", page.object, "fields"], value: []});
  ops.push({op: "insert", path: fieldPath(index), value});
  const reply = await draft.ops(ops);
  if (reply.ok) {
    page.autoKey.add(key);
    select(key);
    const box = $("prop-label");
    if (box) { box.focus(); box.select(); }
  }
}

function fieldItem(f, i) {
  if (!f) return el("li", {class: "field-item"}, "?");
  const problems = draft.problemsUnder(dotted(fieldPath(i))).length;
  const marks = [];
  if (f.required) marks.push(el("span", {class: "req-mark", title: t("required")}, "*"));
  if (f.visible_if) marks.push(el("span", {class: "tag"}, t("conditional")));
  if (f.formula) marks.push(el("span", {class: "tag"}, t("formula")));
  if (f.unique) marks.push(el("span", {class: "tag"}, t("dedupe")));
  if (problems) marks.push(el("span", {class: "badge bad"}, t("n_problems", {n: problems})));
  return el("li", {class: "field-item" + (f.key === page.selected ? " selected" : "") + (sectionOf(f) ? " in-section" : ""), dataset: {key: f.key}},
    el("span", {class: "handle", title: t("drag_to_reorder"), "aria-hidden": "true"}, "⋮⋮"),
    el("button", {type: "button", class: "pick", onclick: () => select(f.key)},
      el("span", {class: "name"}, f.label || f.key), " ", el("code", {class: "meta"}, f.key), " ",
      el("span", {class: "badge"}, TYPES[f.type] || f.type), ...marks));
}

/** The heading of a group in the field list; fields dropped below it join its section ("" for none). */
function sectionHead(section, count, pending) {
  const tools = [];
  if (section !== null && !pending) {
    tools.push(el("button", {type: "button", class: "link", onclick: () => renameSection(section)}, t("rename_section")),
               el("button", {type: "button", class: "link danger", onclick: () => ungroupSection(section)}, t("ungroup_section")));
  }
  if (pending) tools.push(el("button", {type: "button", class: "link danger", "aria-label": t("remove_section"), onclick: () => {
    page.pending = page.pending.filter((s) => s !== section);
    renderList();
  }}, "✕"));
  return el("li", {class: "section-head" + (section === null ? " no-section" : ""), dataset: {section: section === null ? "" : section}},
    el("span", {class: "section-name"}, section === null ? t("no_section") : section),
    el("span", {class: "meta"}, pending ? t("empty_section") : t("n_fields", {n: count})), ...tools);
}

function renderList() {
  const list = $("field-list");
  const all = fields();
  const used = sectionNames(all);
  page.pending = page.pending.filter((s) => !used.includes(s));
  const headed = used.length > 0 || page.pending.length > 0;
  const items = [];
  for (const group of groups(all)) {
    if (headed) items.push(sectionHead(group.section, group.items.length, false));
    items.push(...group.items.map(({field, index}) => fieldItem(field, index)));
  }
  for (const name of page.pending) items.push(sectionHead(name, 0, true));
  list.replaceChildren(...items);
  $("field-list-empty").hidden = all.length > 0 || !draft.doc;
  $("draft-broken").hidden = !!draft.doc;
}

/** Where `node` sits in the field list: the field index it takes and the section of the heading above it. */
function dropPlace(node) {
  let index = 0, section = null;
  for (const child of $("field-list").children) {
    if (child === node) break;
    if (child.classList.contains("section-head")) section = child.dataset.section || null;
    else if (child.classList.contains("field-item")) index++;
  }
  return {index, section};
}

/** Ops that put field `key` at index `to` in `section` (null: none). */
function placeOps(key, to, section) {
  const from = indexOf(key);
  if (from < 0) return [];
  const ops = [];
  if (to !== from) ops.push({op: "move", path: fieldPath(from), to});
  const had = sectionOf(fields()[from]);
  if (section !== null && had !== section) ops.push({op: "set", path: [...fieldPath(to), "section"], value: section});
  if (section === null && had !== null) ops.push({op: "remove", path: [...fieldPath(to), "section"]});
  return ops;
}

/** Choose a field's section in the panel: it moves next to the section's other fields. */
async function chooseSection(key, section) {
  const from = indexOf(key);
  if (from < 0 || sectionOf(fields()[from]) === section) return;
  const ops = placeOps(key, targetIndex(fields(), from, section), section);
  if (ops.length) await draft.ops(ops);
  page.panelFor = null;
  renderPanel();
}

async function askSectionName(title, value) {
  const box = el("input", {id: "section-name", required: true, maxlength: 100, value: value || ""});
  setTimeout(() => { box.focus(); box.select(); }, 0);
  if (!(await confirmDialog(title, el("label", {}, t("section_name"), box), t("confirm")))) return null;
  return box.value.trim() || null;
}

/** "Add section" in the palette: its heading waits at the bottom of the list until a field is clicked
 *  or dragged in, or put in it from the property panel. */
async function addSection() {
  if (!page.object) { say(t("add_object_first"), "bad"); return; }
  const name = await askSectionName(t("new_section"), t("section_n", {n: sectionNames(fields()).length + page.pending.length + 1}));
  if (!name) return;
  if (!sectionNames(fields()).includes(name) && !page.pending.includes(name)) page.pending.push(name);
  renderList();
  say(t("section_added", {name}));
  if (current()) { page.panelFor = null; renderPanel(); }
}

async function renameSection(section) {
  const name = await askSectionName(t("rename_section_title", {name: section}), section);
  if (!name || name === section) return;
  await draft.ops(fields().map((f, i) => [f, i]).filter(([f]) => sectionOf(f) === section)
    .map(([, i]) => ({op: "set", path: [...fieldPath(i), "section"], value: name})));
  page.panelFor = null;
  renderPanel();
}

async function ungroupSection(section) {
  if (!(await confirmDialog(t("ungroup_title", {name: section}), t("ungroup_body"), t("ungroup_section"), true))) return;
  await draft.ops(fields().map((f, i) => [f, i]).filter(([f]) => sectionOf(f) === section)
    .map(([, i]) => ({op: "remove", path: [...fieldPath(i), "section"]})));
  page.panelFor = null;
  renderPanel();
}

function select(key) {
  if (document.activeElement && document.activeElement.blur) document.activeElement.blur();  // sends what was being typed
  page.selected = key;
  page.panelFor = null;
  renderList();
  renderPanel();
  if (window.matchMedia("(max-width: 1100px)").matches) $("props").scrollIntoView({block: "start"});  // the panel sits below the list
}

// -- property panel ------------------------------------------------------------------------------

function textProp(prop, labelText, kind = "text", extra = {}) {
  const f = current(), owner = page.selected;
  const id = `prop-${prop}`;
  const value = f[prop] === undefined || f[prop] === null ? "" : (typeof f[prop] === "object" ? JSON.stringify(f[prop]) : String(f[prop]));
  const send = debounce((v) => setProp(prop, literal(kind, v), owner), 350);
  const box = el("input", {id, value, inputmode: kind === "text" ? undefined : "decimal", ...extra, oninput: (e) => send(e.target.value), onblur: () => send.flush()});
  return el("div", {class: "field"}, el("label", {for: id}, labelText), box);
}

function checkProp(prop, labelText) {
  const f = current(), owner = page.selected;
  return el("div", {class: "field"}, el("label", {class: "inline"},
    el("input", {type: "checkbox", id: `prop-${prop}`, checked: !!f[prop], onchange: (e) => setProp(prop, e.target.checked || undefined, owner)}), labelText));
}

function exprProp(prop, labelText, want, context) {
  const f = current(), owner = page.selected;
  const wrap = el("div", {class: "field expr-field", id: `prop-${prop}`}, el("span", {class: "label"}, labelText));
  const send = debounce((text) => setProp(prop, text.trim() ? text : undefined, owner), 400);
  exprEditor({parent: wrap, object: page.object, want, context, value: f[prop] || "", onChange: send, onBlur: send.flush, label: labelText});
  return wrap;
}

function labelAndKey() {
  const f = current();
  const key = el("input", {id: "prop-key", value: f.key, autocapitalize: "off", spellcheck: "false"});
  const keyNote = el("p", {class: "help"}, page.autoKey.has(f.key) ? t("key_follows_label") : t("key_rename_note"));
  const rename = debounce((value) => {
    const k = value.trim();
    if (!k || k === page.selected) return;
    renameTo(k, propOps(page.selected, "key", k));
  }, 500);
  key.addEventListener("input", (e) => { page.autoKey.delete(page.selected); keyNote.textContent = t("key_rename_note"); rename(e.target.value); });
  const follow = debounce(async (text) => {
    const old = page.selected;
    const ops = propOps(old, "label", text.trim() || undefined);
    if (page.autoKey.has(old) && text.trim()) {
      const r = await api("GET", `/studio/api/key?label=${encodeURIComponent(text.trim())}`);
      const newKey = r.ok && r.data.key ? uniqueKey(r.data.key, fields()[indexOf(old)] && fields()[indexOf(old)].key) : null;
      if (newKey && newKey !== old && page.selected === old) {
        ops.push(...propOps(old, "key", newKey));
        page.autoKey.add(newKey);
        if (document.activeElement !== key) key.value = newKey;
        return renameTo(newKey, ops);
      }
    }
    if (ops.length) draft.ops(ops);
  }, 350);
  const label = el("input", {id: "prop-label", value: f.label || "", oninput: (e) => follow(e.target.value), onblur: () => follow.flush()});
  return [el("div", {class: "field"}, el("label", {for: "prop-label"}, t("label")), label),
          el("div", {class: "field"}, el("label", {for: "prop-key"}, t("key")), key, keyNote)];
}

/** Send `ops` that rename the chosen field to `newKey`; the panel stays open (and focused) meanwhile. */
async function renameTo(newKey, ops) {
  const old = page.selected;
  page.aliases.set(newKey, old);
  page.selected = newKey;
  page.panelFor = newKey;
  const reply = await draft.ops(ops);
  page.aliases.delete(newKey);
  if (reply.ok) {
    page.autoKey.delete(old);
    page.moves.set(old, newKey);
    forgetCompletions();
  } else if (page.selected === newKey) {
    page.selected = old;
    page.panelFor = null;
  }
  renderList();
  renderPanel();
}

function typeSelect() {
  const f = current();
  const s = el("select", {id: "prop-type", value: f.type, onchange: async (e) => {
    const ops = propOps(page.selected, "type", e.target.value);
    if (WITH_OPTIONS.has(e.target.value) && !f.options) ops.push(...propOps(page.selected, "options", [t("option_n", {n: 1}), t("option_n", {n: 2})]));
    await draft.ops(ops);
    page.panelFor = null;
    renderPanel();
  }}, ...Object.entries(TYPES).map(([k, v]) => el("option", {value: k}, v)));
  s.value = f.type;
  return el("div", {class: "field"}, el("label", {for: "prop-type"}, t("type")), s);
}

function uniqueProp() {
  const f = current(), owner = page.selected;
  const u = f.unique;
  const mode = !u ? "" : u === true ? "block" : (u.mode || "block");
  const match = u && typeof u === "object" ? (u.match || "exact") : "exact";
  const modeSel = el("select", {id: "prop-unique", value: mode},
    el("option", {value: ""}, t("unique_none")), el("option", {value: "block"}, t("unique_block")), el("option", {value: "warn"}, t("unique_warn")));
  const matchSel = el("select", {id: "prop-unique-match", value: match},
    el("option", {value: "exact"}, t("match_exact")), el("option", {value: "company"}, t("match_company")));
  const send = () => {
    const m = modeSel.value;
    matchSel.disabled = !m;
    if (!m) return setProp("unique", undefined, owner);
    return setProp("unique", m === "block" && matchSel.value === "exact" ? true : {mode: m, match: matchSel.value}, owner);
  };
  modeSel.addEventListener("change", send);
  matchSel.addEventListener("change", send);
  matchSel.disabled = !mode;
  return el("div", {class: "field two"},
    el("div", {}, el("label", {for: "prop-unique"}, t("dedupe_mode")), modeSel),
    el("div", {}, el("label", {for: "prop-unique-match"}, t("dedupe_match")), matchSel));
}

function optionsEditor() {
  const f = current(), owner = page.selected;
  const base = () => [...fieldPath(indexOf(owner)), "options"];
  const list = el("ol", {class: "options", id: "prop-options"});
  (f.options || []).forEach((o, i) => {
    const send = debounce((v) => {
      const value = o !== null && typeof o === "object" ? {...o, value: v} : v;
      draft.ops([{op: "set", path: [...base(), i], value}]);
    }, 350);
    list.append(el("li", {},
      el("span", {class: "handle", "aria-hidden": "true"}, "⋮⋮"),
      el("input", {value: o !== null && typeof o === "object" ? (o.value || "") : String(o), "aria-label": t("option_n", {n: i + 1}),
                   oninput: (e) => send(e.target.value), onblur: () => send.flush()}),
      el("button", {type: "button", class: "link danger", "aria-label": t("remove_option"), onclick: async () => {
        await draft.ops([{op: "remove", path: [...base(), i]}]);
        page.panelFor = null; renderPanel();
      }}, "✕")));
  });
  Sortable.create(list, {handle: ".handle", animation: 120, onEnd: async (e) => {
    if (e.oldIndex === e.newIndex) return;
    await draft.ops([{op: "move", path: [...base(), e.oldIndex], to: e.newIndex}]);
    page.panelFor = null; renderPanel();
  }});
  const add = el("button", {type: "button", id: "prop-add-option", onclick: async () => {
    const n = (f.options || []).length;
    const op = f.options ? {op: "insert", path: [...base(), n], value: t("option_n", {n: n + 1})}
                         : {op: "set", path: base(), value: [t("option_n", {n: 1})]};
    await draft.ops([op]);
    page.panelFor = null; renderPanel();
    const boxes = document.querySelectorAll("#prop-options input");
    if (boxes.length) { boxes[boxes.length - 1].focus(); boxes[boxes.length - 1].select(); }
  }}, t("add_option"));
  return el("div", {class: "field"}, el("span", {class: "label"}, t("options")), list, add);
}

function defaultProp() {
  const f = current(), owner = page.selected;
  const id = "prop-default";
  const d = f.default;
  const isExpr = d !== null && typeof d === "object" && "expr" in d;
  const kind = ["integer", "number", "money", "percent"].includes(f.type) ? "num" : "text";
  const send = debounce((v) => {
    if (f.type === "boolean") return setProp("default", v === "" ? undefined : v === "true", owner);
    return setProp("default", literal(kind, v), owner);
  }, 350);
  const box = f.type === "boolean"
    ? el("select", {id, value: d === undefined ? "" : String(d), onchange: (e) => send(e.target.value)},
      el("option", {value: ""}, "—"), el("option", {value: "true"}, t("yes")), el("option", {value: "false"}, t("no")))
    : el("input", {id, value: isExpr ? "" : (d === undefined || d === null ? "" : String(d)), disabled: isExpr, oninput: (e) => send(e.target.value), onblur: () => send.flush()});
  return el("div", {class: "field"}, el("label", {for: id}, t("default")), box,
    isExpr ? el("p", {class: "help"}, t("default_expr", {expr: d.expr})) : null);
}

function sectionProp() {
  const f = current(), owner = page.selected;
  const mine = sectionOf(f);
  const names = [...sectionNames(fields()), ...page.pending];
  const s = el("select", {id: "prop-section", onchange: async (e) => {
    const v = e.target.value;
    if (v === "\u0000new") {
      const name = await askSectionName(t("new_section"), "");
      if (!name) { e.target.value = mine === null ? "" : mine; return; }
      return chooseSection(owner, name);
    }
    return chooseSection(owner, v === "" ? null : v);
  }}, el("option", {value: ""}, t("no_section")), ...names.map((n) => el("option", {value: n}, n)),
    el("option", {value: "\u0000new"}, t("new_section_option")));
  s.value = mine === null ? "" : mine;
  return el("div", {class: "field"}, el("label", {for: "prop-section"}, t("section")), s,
    el("p", {class: "help"}, t("section_help")));
}

function panelProblems() {
  const box = $("panel-problems");
  if (!box) return;
  const i = indexOf(page.selected);
  const list = i < 0 ? [] : draft.problemsUnder(dotted(fieldPath(i)));
  box.replaceChildren(...list.map((p) => el("li", {class: "error", role: "alert"}, `${p.path.slice(dotted(fieldPath(i)).length).replace(/^\./, "") || t("this_field")}：${p.message}`)));
}

function renderPanel() {
  const panel = $("props");
  const f = current();
  if (!f) {
    page.panelFor = null;
    panel.replaceChildren(el("h2", {}, t("properties")), el("p", {class: "empty"}, fields().length ? t("pick_a_field") : t("palette_hint")));
    return;
  }
  if (page.panelFor === page.selected) { panelProblems(); return; }
  page.panelFor = page.selected;
  const parts = [el("h2", {}, t("properties"), " ", el("span", {class: "badge"}, TYPES[f.type] || f.type)),
    el("ul", {class: "problems", id: "panel-problems"}), ...labelAndKey(), typeSelect(),
    sectionProp(), textProp("help", t("help_text")), checkProp("required", t("required")), checkProp("readonly", t("readonly"))];
  if (WITH_OPTIONS.has(f.type)) parts.push(optionsEditor());
  for (const [prop, kind] of typeProps(f.type)) parts.push(textProp(prop, t("prop_" + prop), kind));
  if (f.type !== "autonumber") parts.push(defaultProp());
  if (!NO_UNIQUE.has(f.type)) parts.push(uniqueProp());
  parts.push(exprProp("visible_if", t("visible_if"), "bool", "condition"),
             exprProp("required_if", t("required_if"), "bool", "condition"),
             exprProp("formula", t("formula_label"), "any", "formula"));
  parts.push(el("div", {class: "actions"}, el("button", {type: "button", class: "danger", id: "delete-field", onclick: removeField}, t("delete_field")),
    el("button", {type: "button", onclick: () => whenSettled(() => window.location.assign(`/studio/yaml#key=${page.selected}`))}, t("see_yaml"))));
  panel.replaceChildren(...parts);
  panelProblems();
}

async function removeField() {
  const f = current();
  if (!f) return;
  if (!(await confirmDialog(t("delete_field_title", {label: f.label || f.key}), t("delete_field_body"), t("delete"), true))) return;
  const reply = await draft.ops([{op: "remove", path: fieldPath(indexOf(f.key))}]);
  if (reply.ok) { page.selected = null; renderAll(); }
}

// -- preview and wiring --------------------------------------------------------------------------

function renderPreview() {
  const o = objects()[page.object];
  $("preview-title").textContent = o ? t("new_x", {label: o.label || page.object}) : "";
  $("preview").replaceChildren(renderForm(fields(), "pv"));
}

function renderAll() {
  renderObjects();
  renderList();
  renderPanel();
  renderPreview();
  renderSample();
}

let sampleFor = null;
function renderSample() {
  if (!page.object || sampleFor === page.object) return;
  sampleFor = page.object;
  $("sample").replaceChildren(recordPicker(page.object, (rec) => sample.set(rec.id)));
}

function init() {
  $("object-select").addEventListener("change", (e) => { page.object = e.target.value; page.selected = null; page.pending = []; renderAll(); });
  $("add-object").addEventListener("click", addObject);
  document.querySelectorAll("[data-field-type]").forEach((b) => b.addEventListener("click", () => addField(b.dataset.fieldType)));
  $("add-section").addEventListener("click", addSection);
  Sortable.create($("palette"), {group: {name: "fields", pull: "clone", put: false}, sort: false, draggable: "[data-field-type]"});
  // Section headings are list items too but never dragged; a field dropped below one joins that section.
  Sortable.create($("field-list"), {group: {name: "fields", pull: false, put: true}, handle: ".handle", animation: 120,
    draggable: ".field-item, .palette-item",
    onAdd: (e) => {
      const type = e.item.dataset.fieldType, place = dropPlace(e.item);
      e.item.remove();
      addField(type, place.index, place.section);
    },
    onEnd: async (e) => {
      if (e.from !== e.to) return;
      const place = dropPlace(e.item);
      const ops = placeOps(e.item.dataset.key, place.index, place.section);
      if (ops.length) await draft.ops(ops);
      else renderList();  // put the DOM back in the draft's order
    }});
  document.addEventListener("studio:replaced", () => { page.selected = null; page.panelFor = null; page.pending = []; forgetCompletions(); renderAll(); });
  let first = true;
  draft.on(() => {
    if (first) { first = false; renderAll(); return; }
    renderObjects();
    renderList();
    renderPanel();
    renderPreview();
  });

}

init();
