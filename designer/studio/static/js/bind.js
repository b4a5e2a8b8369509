// Inputs bound to a place in the draft: each edit becomes a set/remove op on that path, so the
// rules page is a declaration of boxes rather than a pile of handlers. Redrawing keeps the focus.
import {Sortable} from "../vendor/vendor.js";
import {el, t, draft, dotted, debounce, confirmDialog} from "./common.js";
import {exprEditor} from "./expr.js";
import {literal} from "./fields.js";

/** An id for the box editing `path` (stable across redraws, so focus can come back to it). */
export function pathId(path) { return "b-" + path.join("-"); }

const editors = new Map();

function opFor(path, value, keepEmpty) {
  if (value === undefined && !keepEmpty) return draft.get(path) === undefined ? null : {op: "remove", path};
  return {op: "set", path, value: value === undefined ? "" : value};
}

function send(path, value, keepEmpty) {
  const op = opFor(path, value, keepEmpty);
  return op ? draft.ops([op]) : Promise.resolve();
}

function problemText(where) {
  return ((draft.state && draft.state.problems) || []).filter((p) => p.path === where).map((p) => p.message).join("；");
}

function problemsOf(path) {
  const where = dotted(path);
  return el("p", {class: "error", role: "alert", dataset: {problemPath: where}}, problemText(where));
}

/** Bring the problem lines under the boxes in `container` up to date with the draft's problems. */
export function refreshProblems(container) {
  container.querySelectorAll("[data-problem-path]").forEach((p) => { p.textContent = problemText(p.dataset.problemPath); });
}

/** A text box; kind "num"/"int" stores numbers, "list" a comma-separated list; `keep` stores "" rather than removing. */
export function textBox(path, labelText, {kind = "text", keep = false, placeholder, help} = {}) {
  const v = draft.get(path);
  const shown = v === undefined || v === null ? "" : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v);
  const toValue = (text) => {
    if (kind === "list") { const items = text.split(/[,，、]/).map((s) => s.trim()).filter(Boolean); return items.length ? items : undefined; }
    return literal(kind, text);
  };
  const push = debounce((text) => send(path, toValue(text), keep), 400);
  const id = pathId(path);
  return el("div", {class: "field"}, el("label", {for: id}, labelText),
    el("input", {id, value: shown, placeholder, inputmode: kind === "num" || kind === "int" ? "decimal" : undefined,
                 oninput: (e) => push(e.target.value), onblur: () => push.flush()}),
    help ? el("p", {class: "help"}, help) : null, problemsOf(path));
}

/** A select of `choices` ([value, label]); "" removes the key. */
export function selectBox(path, labelText, choices, onChanged) {
  const id = pathId(path);
  const v = draft.get(path);
  const s = el("select", {id, onchange: async (e) => { await send(path, e.target.value === "" ? undefined : e.target.value); if (onChanged) onChanged(); }},
    ...choices.map(([value, label]) => el("option", {value}, label)));
  s.value = v === undefined ? "" : String(v);
  if (s.selectedIndex < 0) s.selectedIndex = 0;
  return el("div", {class: "field"}, el("label", {for: id}, labelText), s, problemsOf(path));
}

export function checkBox(path, labelText) {
  const id = pathId(path);
  return el("div", {class: "field"}, el("label", {class: "inline"},
    el("input", {type: "checkbox", id, checked: !!draft.get(path), onchange: (e) => send(path, e.target.checked ? true : undefined)}), labelText));
}

/** An expression editor for `path` in `object`'s scope; required expressions keep "" instead of vanishing. */
export function exprBox(path, labelText, object, {want = "bool", context = "condition", keep = true} = {}) {
  const id = pathId(path);
  const wrap = el("div", {class: "field expr-field", id}, el("span", {class: "label"}, labelText));
  const push = debounce((text) => send(path, text.trim() ? text : undefined, keep), 400);
  const view = exprEditor({parent: wrap, object, want, context, value: draft.get(path) || "", onChange: push, onBlur: push.flush, label: labelText});
  editors.set(id, view);
  return wrap;
}

/**
 * A table of the list at `path`: one row per item, `cells(itemPath, item)` gives the row's boxes;
 * rows drag to reorder, ✕ removes (confirmed when `confirmRemove`), "add" appends `fresh()`.
 */
export function rowsEditor(path, {cells, fresh, addLabel, empty, confirmRemove, layout = "when"}) {
  const items = draft.get(path) || [];
  const list = el("ol", {class: `rows ${layout}`, id: pathId(path)});
  items.forEach((item, i) => {
    list.append(el("li", {class: "row"},
      el("span", {class: "handle", title: t("drag_to_reorder"), "aria-hidden": "true"}, "⋮⋮"),
      el("span", {class: "row-n"}, String(i + 1)),
      el("div", {class: "row-cells"}, ...cells([...path, i], item, i)),
      el("button", {type: "button", class: "link danger remove", "aria-label": t("remove_row", {n: i + 1}), onclick: async () => {
        if (confirmRemove && !(await confirmDialog(t("remove_row_title", {n: i + 1}), t("remove_row_body"), t("delete"), true))) return;
        draft.ops([{op: "remove", path: [...path, i]}]);
      }}, "✕")));
  });
  Sortable.create(list, {handle: ".handle", animation: 120, onEnd: (e) => {
    if (e.oldIndex !== e.newIndex) draft.ops([{op: "move", path: [...path, e.oldIndex], to: e.newIndex}]);
  }});
  const add = el("button", {type: "button", class: "add-row", onclick: () => appendTo(path, fresh())}, addLabel);
  return el("div", {class: "rows-editor"}, items.length ? list : el("p", {class: "empty"}, empty || t("none_yet")), add);
}

/** Append `value` to the list at `path`, creating the list when the document has none yet. */
export function appendTo(path, value) {
  const items = draft.get(path);
  return draft.ops([Array.isArray(items) ? {op: "insert", path: [...path, items.length], value} : {op: "set", path, value: [value]}]);
}

/**
 * Shape of a document: list lengths, key sets and a few switches (hit, on, type...). A redraw is
 * needed only when the shape changes; typing into a box changes values, not the shape.
 */
export function shape(node, key) {
  if (Array.isArray(node)) return "[" + node.map((n) => shape(n)).join(",") + "]";
  if (node && typeof node === "object") return "{" + Object.keys(node).map((k) => k + ":" + shape(node[k], k)).join(",") + "}";
  return ["hit", "on", "type", "strategy", "object", "parent"].includes(key) ? JSON.stringify(node) : "";
}

/** Redraw `container` with `draw()`, then put the caret back where it was. */
export function redraw(container, draw) {
  const active = document.activeElement;
  let id = null, caret = null, cm = null, typed = null;
  if (active && container.contains(active)) {
    const holder = active.closest(".expr-field");
    if (holder) { id = holder.id; const v = editors.get(id); if (v) cm = v.state.selection.main.head; }
    else { id = active.id; caret = active.selectionStart; typed = active.value; }
  }
  for (const [k, v] of editors) if (container.contains(v.dom)) { v.destroy(); editors.delete(k); }
  container.replaceChildren(...draw());
  if (!id) return;
  if (cm !== null && editors.has(id)) {
    const v = editors.get(id);
    v.focus();
    v.dispatch({selection: {anchor: Math.min(cm, v.state.doc.length)}});
    return;
  }
  const again = document.getElementById(id);
  if (again) {
    if (typed !== null && again.tagName === "INPUT") again.value = typed;  // keys pressed while the reply was on its way
    again.focus();
    if (caret !== null && again.setSelectionRange) try { again.setSelectionRange(caret, caret); } catch (e) { /* not a text box */ }
  }
}
