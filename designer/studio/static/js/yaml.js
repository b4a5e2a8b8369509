// The YAML view: the whole draft as its consultant-written source in CodeMirror 6, saved as typed
// (an unparsable draft is saved too, so nothing typed is lost) with every problem at line:col.
import {EditorView, EditorState, basicSetup, yaml, setDiagnostics, lintGutter, keymap} from "../vendor/vendor.js";
import {el, t, draft, debounce, where} from "./common.js";

const list = document.getElementById("yaml-problems");
let view = null;
let sent = null;

function offset(doc, p) {
  const line = doc.line(Math.min(Math.max(1, p.line || 1), doc.lines));
  return Math.min(line.to, line.from + Math.max(0, (p.col || 1) - 1));
}

function show(problems) {
  const doc = view.state.doc;
  const diagnostics = problems.map((p) => {
    const from = offset(doc, p);
    const line = doc.lineAt(from);
    const word = /^[^\s:,\]}]+/.exec(doc.sliceString(from, line.to));
    return {from, to: Math.max(from + (word ? word[0].length : 0), Math.min(line.to, from + 1)), severity: "error", message: (p.path ? p.path + ": " : "") + p.message};
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
  list.replaceChildren(...problems.map((p) => el("li", {class: "error", dataset: {line: p.line, col: p.col}},
    el("button", {type: "button", class: "link", onclick: () => jump(offset(view.state.doc, p))}, where(p)), "：", p.message)));
  document.getElementById("yaml-ok").hidden = problems.length > 0;
}

function jump(pos) {
  view.dispatch({selection: {anchor: pos}, effects: EditorView.scrollIntoView(pos, {y: "center"})});
  view.focus();
}

const save = debounce(async () => {
  const text = view.state.doc.toString();
  if (text === sent) return;
  sent = text;
  await draft.putSource(text);
}, 600);

function create(source) {
  const holder = document.getElementById("yaml-editor");
  if (view) view.destroy();
  sent = source;
  view = new EditorView({
    parent: holder,
    state: EditorState.create({
      doc: source,
      extensions: [basicSetup, yaml(), lintGutter(), EditorView.lineWrapping,
        keymap.of([{key: "Mod-s", preventDefault: true, run: () => { save.flush(); return true; }}]),
        EditorView.contentAttributes.of({"aria-label": t("yaml_source")}),
        EditorView.updateListener.of((u) => { if (u.docChanged) save(); })],
    }),
  });
}

document.getElementById("yaml-jump").addEventListener("change", (e) => {
  const key = e.target.value;
  if (!key || !view) return;
  const m = new RegExp("^" + key + "\\s*:", "m").exec(view.state.doc.toString());
  if (m) jump(m.index);
  e.target.value = "";
});

/** /studio/yaml#key=tier opens the editor at the item with that key (links from the visual editors). */
function jumpToHashKey() {
  const m = /^#key=([a-z][a-z0-9_]*)$/.exec(window.location.hash);
  if (!m) return;
  const at = new RegExp(`\\bkey:\\s*["']?${m[1]}["']?(?![\\w])`).exec(view.state.doc.toString());
  if (at) jump(at.index);
}

draft.on((s) => {
  if (!view) { create(s.source || ""); jumpToHashKey(); }
  show(s.problems || []);
});
document.addEventListener("studio:replaced", () => create(draft.state.source || ""));

