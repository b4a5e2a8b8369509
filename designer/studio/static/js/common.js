// What every studio page shares: JSON calls with the CSRF header, the translated strings the
// template hands over, a tiny DOM builder, the workspace draft (one per workspace, kept on the
// server so the visual and YAML views never disagree) and the draft status strip.

const csrfMeta = document.querySelector('meta[name="csrf-token"]');
const stringsNode = document.getElementById("studio-strings");
const STRINGS = stringsNode ? JSON.parse(stringsNode.textContent) : {};

/** The translated UI string `id`, with `{name}` placeholders filled from `vars`. */
export function t(id, vars) {
  let s = STRINGS[id] !== undefined ? STRINGS[id] : id;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
  return s;
}

let busy = 0, editing = 0;
/** Counts calls in flight and edits waiting to be sent (html[data-studio-busy]); "saving…" shows while any are. */
function track(delta, edit) {
  busy += delta;
  if (edit) editing += delta;
  document.documentElement.dataset.studioBusy = String(busy);
  const box = document.getElementById("studio-busy");
  if (box) box.hidden = busy === 0;
}
track(0);

/** fetch() that sends and reads JSON; resolves to {ok, status, data} and never throws on HTTP errors. */
export async function api(method, url, body) {
  track(1);
  try { return await call(method, url, body); } finally { track(-1); }
}

async function call(method, url, body) {
  const init = {method, credentials: "same-origin", headers: {"X-CSRFToken": csrfMeta ? csrfMeta.content : ""}};
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  let response;
  try { response = await fetch(url, init); } catch (e) { return {ok: false, status: 0, data: {error: t("offline")}}; }
  let data = null;
  try { data = await response.json(); } catch (e) { data = {error: t("server_error", {status: response.status})}; }
  return {ok: response.ok, status: response.status, data};
}

/** The message to show for a failed call: the server's words when it sent some. */
export function errorText(reply) {
  const d = reply.data || {};
  if (typeof d.error === "string") return d.error;
  if (d.error && d.error.message) return d.error.message;
  if (d.message) return d.message;
  return t("server_error", {status: reply.status});
}

/** el("div", {class: "x", onclick: fn}, child, "text", ...) */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "value") node.value = v;
    else if (k in node && k !== "list" && k !== "form" && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c.nodeType ? c : String(c));
  if (tag === "select" && attrs && attrs.value !== undefined && attrs.value !== null) node.value = attrs.value;
  return node;
}

/** Show `message` in the page's status line (role=status, so screen readers hear it). */
export function say(message, kind) {
  const box = document.getElementById("studio-say");
  if (!box) return;
  box.textContent = message || "";
  box.className = "studio-say" + (kind ? " " + kind : "");
}

/** A modal confirmation; resolves true when the admin confirms. `body` is a node or text. */
export function confirmDialog(title, body, okLabel, danger) {
  return new Promise((resolve) => {
    const ok = el("button", {class: danger ? "danger" : "primary", type: "submit", value: "ok"}, okLabel || t("confirm"));
    const dialog = el("dialog", {class: "studio-dialog"},
      el("form", {method: "dialog"},
        el("h2", {}, title), el("div", {class: "dialog-body"}, body),
        el("div", {class: "actions"}, ok, el("button", {type: "submit", value: "cancel"}, t("cancel")))));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Debounce `fn` by `ms`; the returned function also has .flush() to run a pending call now. */
export function debounce(fn, ms) {
  let timer = null, pending = null;
  const fire = () => { const a = pending; pending = null; track(-1, true); fn(...a); };
  const wrapped = (...args) => { if (!pending) track(1, true); pending = args; clearTimeout(timer); timer = setTimeout(fire, ms); };
  wrapped.flush = () => { if (pending) { clearTimeout(timer); fire(); } };
  return wrapped;
}

/** Send what is being typed (by taking the focus away), then run `fn` once no call is in flight. */
export function whenSettled(fn) {
  if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
  const wait = setInterval(() => { if (busy === 0) { clearInterval(wait); fn(); } }, 50);
}

window.addEventListener("beforeunload", (e) => { if (editing > 0) e.preventDefault(); });  // an edit not yet saved

/** An ISO time as people read it, in the bundle's time zone (where the rules run), not the browser's. */
export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const zone = (draft.doc && draft.doc.timezone) || "Asia/Shanghai";
  try {
    return d.toLocaleString(document.documentElement.lang || undefined, {dateStyle: "medium", timeStyle: "short", timeZone: zone});
  } catch (e) {
    return d.toLocaleString(document.documentElement.lang || undefined, {dateStyle: "medium", timeStyle: "short"});
  }
}

/** A problem's place for people: "第 3 行第 9 列 · objects.customer.fields[2].min". */
export function where(p) {
  return t("at_line_col", {line: p.line, col: p.col}) + (p.path ? " · " + p.path : "");
}

/** The workspace draft: loaded once, changed by ops or by its YAML source; listeners hear every new state. */
class Draft {
  constructor() { this.state = null; this.listeners = []; this.queue = Promise.resolve(); }

  on(fn) { this.listeners.push(fn); if (this.state) fn(this.state); }

  get doc() { return (this.state && this.state.document) || null; }

  _take(reply, quiet) {
    if (reply.ok && reply.data && "source" in reply.data) {
      this.state = reply.data;
      document.documentElement.dataset.studioReady = "1";  // the page shows the draft now
      for (const fn of this.listeners) fn(this.state);
      if (!quiet) say(t("saved_draft"), "ok");
    } else {
      say(errorText(reply), "bad");
    }
    return reply;
  }

  /** Calls run one after another, so a quick typist's edits reach the server in order. */
  _serial(call, quiet, edit = true) {
    track(1, edit);
    const next = this.queue.then(call).then((reply) => this._take(reply, quiet)).finally(() => track(-1, edit));
    this.queue = next.catch(() => {});
    return next;
  }

  load() { return this._serial(() => api("GET", "/studio/api/draft"), true, false); }
  ops(ops) { return this._serial(() => api("POST", "/studio/api/draft/ops", {ops})); }
  putSource(source) { return this._serial(() => api("PUT", "/studio/api/draft/source", {source})); }
  reset() { return this._serial(() => api("POST", "/studio/api/draft/reset")); }
  importFile(file) {
    const form = new FormData();
    form.append("bundle", file);
    return this._serial(() => api("POST", "/studio/api/draft/import", form));
  }
  replaceWith(url) { return this._serial(() => api("POST", url)); }

  /** The value at `path` in the current document, or undefined. */
  get(path) {
    let node = this.doc;
    for (const p of path) { if (node === null || node === undefined) return undefined; node = node[p]; }
    return node;
  }

  /** Problems whose path lies under `prefix` (a dotted path such as objects.customer.fields[2]). */
  problemsUnder(prefix) {
    const all = (this.state && this.state.problems) || [];
    return all.filter((p) => p.path === prefix || (p.path || "").startsWith(prefix + ".") || (p.path || "").startsWith(prefix + "["));
  }
}

export const draft = new Draft();

/** Dotted path text for a list path: ["objects","customer","fields",2] -> objects.customer.fields[2]. */
export function dotted(path) {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : (i ? "." : "") + p)).join("");
}

function statusStrip() {
  const strip = document.getElementById("studio-status");
  if (!strip) return;
  const text = strip.querySelector(".state");
  draft.on((s) => {
    const n = (s.problems || []).length;
    const parts = [s.published_version ? t("published_v", {v: s.published_version}) : t("nothing_published")];
    parts.push(s.dirty ? t("draft_dirty") : t("draft_clean"));
    text.replaceChildren(parts.join(" · "), " ",
      n ? el("a", {class: "badge bad", href: "/studio/yaml", id: "studio-problem-count"}, t("n_problems", {n}))
        : el("span", {class: "badge good", id: "studio-problem-count"}, t("no_problems")));
  });
  const file = strip.querySelector('input[type="file"]');
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    const chosen = file.files[0];
    file.value = "";
    if (draft.state && draft.state.dirty && !(await confirmDialog(t("import_title"), t("import_body", {name: chosen.name}), t("import_ok"), true))) return;
    const reply = await draft.importFile(chosen);
    if (reply.ok) { say(t("imported", {name: chosen.name}), "ok"); document.dispatchEvent(new CustomEvent("studio:replaced")); }
  });
  // Leaving the page (a tab, the export) waits for edits still on their way, so none is lost or missing from the file.
  for (const link of document.querySelectorAll("#export, .studio-tabs a")) {
    link.addEventListener("click", (e) => { e.preventDefault(); whenSettled(() => window.location.assign(link.href)); });
  }
  strip.querySelector("[data-reset]").addEventListener("click", async () => {
    if (!(await confirmDialog(t("reset_title"), t("reset_body"), t("reset_ok"), true))) return;
    const reply = await draft.reset();
    if (reply.ok) { say(t("reset_done"), "ok"); document.dispatchEvent(new CustomEvent("studio:replaced")); }
  });
}

statusStrip();
draft.load();
const tab = document.querySelector(".studio-tabs [aria-current]");
if (tab) tab.parentNode.scrollLeft = tab.offsetLeft - 16;  // on a phone the current tab stays in sight
