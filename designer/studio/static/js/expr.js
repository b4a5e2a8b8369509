// The expression editor that teaches: the tierwise expression language highlighted as typed,
// completion of field names (with their labels, also found by typing the Chinese label) and
// functions from /studio/api/completions, and every error from /studio/api/check shown under
// its exact column with the server's "did you mean", plus the value on a chosen sample record.
import {
  EditorView, EditorState, StreamLanguage, HighlightStyle, syntaxHighlighting, tags,
  autocompletion, linter, forceLinting, minimalSetup, placeholder,
} from "../vendor/vendor.js";
import {api, el, t, errorText} from "./common.js";

const KEYWORDS = new Set(["and", "or", "not", "in", "is", "empty", "where", "true", "false", "null"]);

/** SPEC §3.1 tokens; a name followed by "(" is a function, any other name a field (the server checks which exist). */
export const exprLanguage = StreamLanguage.define({
  name: "tierwise-expression",
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) return "string";
    if (stream.match(/^\d+[mhdw](?![\w])/)) return "duration";
    if (stream.match(/^\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?/)) return "number";
    if (stream.match(/^[A-Za-z_][\w]*/)) {
      const word = stream.current();
      if (KEYWORDS.has(word)) return "keyword";
      return stream.match(/^\s*\(/, false) ? "function" : "field";
    }
    if (stream.match(/^(?:==|!=|<=|>=|[<>+\-*/%])/)) return "operator";
    if (stream.match(/^[()[\],.]/)) return "punctuation";
    stream.next();
    return "invalid";
  },
  tokenTable: {
    keyword: tags.keyword, string: tags.string, number: tags.number, duration: tags.unit,
    operator: tags.operator, punctuation: tags.punctuation, invalid: tags.invalid,
    field: tags.variableName, function: tags.function(tags.variableName),
  },
});

export const exprHighlight = HighlightStyle.define([
  {tag: tags.keyword, color: "#7a3e9d", fontWeight: "600"},
  {tag: tags.string, color: "#067647"},
  {tag: [tags.number, tags.unit], color: "#b54708"},
  {tag: tags.operator, color: "#475467"},
  {tag: tags.variableName, color: "#1849a9"},
  {tag: tags.function(tags.variableName), color: "#912018", fontWeight: "600"},
  {tag: tags.invalid, color: "#c4320a", textDecoration: "underline wavy"},
]);

const completionCache = new Map();

/** Names usable in `object`'s expressions of `context` (formula | condition | classification | changed), fetched once per page. */
export function completions(object, context) {
  const key = object + "|" + context;
  if (!completionCache.has(key)) {
    completionCache.set(key, api("GET", `/studio/api/completions?object=${encodeURIComponent(object)}&context=${context}`)
      .then((r) => (r.ok ? r.data : {fields: [], functions: [], keywords: []})));
  }
  return completionCache.get(key);
}

/** Forget fetched names after the draft's fields changed (a new field must be completable at once). */
export function forgetCompletions() { completionCache.clear(); }

function completionSource(object, context) {
  return async (ctx) => {
    const cjk = ctx.matchBefore(/[\u3400-\u9fff\uf900-\ufaff]+$/);
    const word = ctx.matchBefore(/[A-Za-z_][\w.]*$/);
    if (!cjk && !word && !ctx.explicit) return null;
    const names = await completions(object, context);
    if (cjk) {  // typing a label in Chinese finds the field and inserts its key
      return {from: cjk.from, options: names.fields.map((f) => ({label: f.label || f.key, apply: f.key, detail: f.key, type: "variable"}))};
    }
    const options = [
      ...names.fields.map((f) => ({label: f.key, detail: `${f.label || ""} · ${f.type}`, type: "variable", boost: 2})),
      ...names.functions.map((f) => ({label: f.name, apply: f.name + "(", detail: f.signature, info: f.doc, type: "function"})),
      ...(names.keywords || []).map((k) => ({label: k, type: "keyword", boost: -1})),
    ];
    return {from: word ? word.from : ctx.pos, options, validFor: /^[\w.]*$/};
  };
}

/** The sample record whose values the editors show; chosen once per page. */
export const sample = {
  id: null,
  views: new Set(),
  set(id) { this.id = id; for (const v of this.views) if (v.dom.isConnected) forceLinting(v); else this.views.delete(v); },
};

function renderReport(box, text, reply, want) {
  box.replaceChildren();
  if (!reply) return;
  if (!reply.ok && reply.errors) {
    for (const e of reply.errors) {
      const from = Math.max(0, e.col - 1), to = Math.max(from + 1, (e.end_col || e.col + 1) - 1);
      box.append(el("div", {class: "expr-error", role: "alert", dataset: {col: e.col, endCol: e.end_col || ""}},
        el("pre", {class: "expr-echo"}, text.slice(0, from), el("mark", {}, text.slice(from, to) || " "), text.slice(to)),
        el("pre", {class: "expr-caret", "aria-hidden": "true"}, el("span", {class: "pad"}, text.slice(0, from)), "^".repeat(Math.max(1, [...text.slice(from, to)].length))),
        el("p", {class: "expr-message"}, t("col_n", {col: e.col}), e.message)));
    }
    return;
  }
  const bits = [];
  if (reply.type && want !== "bool") bits.push(el("span", {class: "badge"}, t("type_is", {type: reply.type})));
  if (sample.id) {
    if (reply.value_error) bits.push(el("span", {class: "expr-value bad"}, t("value_error_on", {id: sample.id, message: reply.value_error})));
    else bits.push(el("span", {class: "expr-value"}, t("value_on", {id: sample.id}), el("code", {}, JSON.stringify(reply.value))));
  }
  if (bits.length) box.append(el("div", {class: "expr-ok"}, ...bits));
}

/**
 * An expression editor inside `parent`. `want` is "bool" for conditions, "any" for formulas;
 * `onChange(text)` hears every edit (debounce it yourself); `onBlur()` when the editor loses focus.
 */
export function exprEditor({parent, object, want = "any", context = "condition", value = "", onChange, onBlur, label}) {
  const box = el("div", {class: "expr-report", "aria-live": "polite"});
  const holder = el("div", {class: "expr-editor"});
  parent.append(holder, box);
  const check = linter(async (view) => {
    const text = view.state.doc.toString();
    if (!text.trim()) { renderReport(box, text, null, want); return []; }
    const reply = await api("POST", "/studio/api/check", {object, expression: text, want, context, sample_record_id: sample.id});
    if (!reply.ok) {
      box.replaceChildren(el("p", {class: "error"}, errorText(reply)));
      return [];
    }
    if (view.state.doc.toString() !== text) return [];
    renderReport(box, text, reply.data, want);
    const end = view.state.doc.length;
    return (reply.data.errors || []).map((e) => {
      const from = Math.min(end, Math.max(0, e.col - 1));
      return {from, to: Math.min(end, Math.max(from + 1, (e.end_col || e.col + 1) - 1)), severity: "error", message: e.message};
    });
  }, {delay: 250});
  const view = new EditorView({
    parent: holder,
    state: EditorState.create({
      doc: value || "",
      extensions: [
        minimalSetup, exprLanguage, syntaxHighlighting(exprHighlight), EditorView.lineWrapping,
        autocompletion({override: [completionSource(object, context)], activateOnTyping: true}),
        check, placeholder(want === "bool" ? t("placeholder_condition") : t("placeholder_formula")),
        EditorView.contentAttributes.of({"aria-label": label || t("expression"), spellcheck: "false", autocapitalize: "off"}),
        EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(u.state.doc.toString()); }),
        EditorView.domEventHandlers({blur: () => { if (onBlur) onBlur(); }}),
      ],
    }),
  });
  sample.views.add(view);
  return view;
}

/** A picker of a live record of `object`: search by title; `onPick({id, title})`. */
export function recordPicker(object, onPick, labelText) {
  const input = el("input", {type: "search", placeholder: t("search_records"), "aria-label": labelText || t("sample_record")});
  const list = el("ul", {class: "picker-list"});
  const chosen = el("span", {class: "picker-chosen"});
  let seq = 0;
  async function search() {
    const mine = ++seq;
    const r = await api("GET", `/api/v1/o/${encodeURIComponent(object)}/records?limit=8&q=${encodeURIComponent(input.value.trim())}`);
    if (mine !== seq) return;
    list.replaceChildren();
    if (!r.ok) { list.append(el("li", {class: "meta"}, errorText(r))); return; }
    if (!r.data.records.length) list.append(el("li", {class: "meta"}, t("no_records")));
    for (const rec of r.data.records) {
      list.append(el("li", {}, el("button", {type: "button", class: "link", onclick: () => {
        chosen.textContent = t("record_n", {id: rec.id, title: rec.title || ""});
        list.replaceChildren();
        onPick(rec);
      }}, `#${rec.id} ${rec.title || ""}`)));
    }
  }
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener("focus", search);
  return el("div", {class: "picker"}, el("label", {class: "inline"}, labelText || t("sample_record"), input), chosen, list);
}
