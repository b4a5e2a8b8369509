// Impact preview and publish: what publishing the draft would change for every live record —
// counts per classification value before → after, the transition matrix with sample records and
// their explanations, follow-ups, pool entries and automations — then publish with a note, after
// a confirmation that repeats the summary.
import {api, el, t, draft, errorText, confirmDialog, say, where, formatTime} from "./common.js";

const $ = (id) => document.getElementById(id);
const page = {impact: null, blocked: true, publishing: false};
const EMPTY = "";

function label(v) { return v === EMPTY || v === null || v === undefined ? t("empty_value") : String(v); }
function num(n) { return Number(n || 0).toLocaleString(document.documentElement.lang || undefined); }
function keyOf(v) { return v === null || v === undefined ? EMPTY : Array.isArray(v) ? v.join("、") : String(v); }

/** The preview's classifications, flattened over objects: [{object, key, label, status, before, after, transitions}]. */
function classificationsOf(data) {
  const out = [];
  const counts = (list) => Object.fromEntries((list || []).map((e) => [keyOf(e.value), e.count]));
  for (const [object, o] of Object.entries(data.objects || {})) {
    for (const [key, c] of Object.entries(o.classifications || {})) {
      out.push({object, key, label: c.label || key, status: c.status, before: counts(c.before), after: counts(c.after),
        transitions: (c.transitions || []).map((tr) => ({from: keyOf(tr.old), to: keyOf(tr.new), count: tr.count || 0, samples: tr.samples || []}))});
    }
  }
  return out;
}

function moved(c) { return c.transitions.filter((tr) => tr.from !== tr.to).reduce((n, tr) => n + tr.count, 0); }

function countsTable(c) {
  const values = [...new Set([...Object.keys(c.before), ...Object.keys(c.after)])];
  return el("div", {class: "table-wrap"}, el("table", {class: "counts", dataset: {key: c.key}},
    el("thead", {}, el("tr", {}, el("th", {}, t("value")), el("th", {}, t("before")), el("th", {}, t("after")), el("th", {}, t("change")))),
    el("tbody", {}, ...values.map((v) => {
      const d = (c.after[v] || 0) - (c.before[v] || 0);
      return el("tr", {dataset: {value: v}}, el("td", {}, el("span", {class: "badge"}, label(v))), el("td", {}, num(c.before[v])),
        el("td", {}, num(c.after[v])), el("td", {class: d > 0 ? "up" : d < 0 ? "down" : "meta"}, d > 0 ? "+" + num(d) : d < 0 ? "−" + num(-d) : "0"));
    }))));
}

function sampleList(c, tr) {
  const box = $(`samples-${c.key}`);
  box.replaceChildren(el("h4", {}, t("samples_of", {from: label(tr.from), to: label(tr.to), n: num(tr.count)})),
    tr.samples.length ? el("ul", {class: "samples"}, ...tr.samples.map((s) => el("li", {},
      el("a", {href: `/r/${s.id}`, target: "_blank", rel: "noopener"}, `#${s.id} ${s.title || ""}`),
      s.sentence ? el("p", {class: "because"}, s.sentence) : null)))
      : el("p", {class: "meta"}, t("no_samples")));
}

function matrix(c) {
  const froms = [...new Set(c.transitions.map((tr) => tr.from))].sort();
  const tos = [...new Set([...c.transitions.map((tr) => tr.to), ...Object.keys(c.after)])].sort();
  const at = (f, to) => c.transitions.find((tr) => tr.from === f && tr.to === to);
  return el("div", {class: "table-wrap"}, el("table", {class: "matrix", dataset: {key: c.key}},
    el("caption", {class: "meta"}, t("matrix_caption")),
    el("thead", {}, el("tr", {}, el("th", {}, t("before_after")), ...tos.map((to) => el("th", {}, label(to))))),
    el("tbody", {}, ...froms.map((f) => el("tr", {}, el("th", {}, label(f)), ...tos.map((to) => {
      const tr = at(f, to);
      const n = tr ? tr.count : 0;
      const cls = !n ? "zero" : f === to ? "stay" : "moved";
      return el("td", {class: cls, dataset: {from: f, to}},
        n && f !== to ? el("button", {type: "button", class: "link", title: t("show_samples"), onclick: () => sampleList(c, tr)}, num(n)) : num(n));
    }))))));
}

function stat(n, text, id) { return el("div", {class: "stat", id}, el("strong", {}, num(n)), text); }

/** The headline numbers; follow-ups, pool entries and automations only when the server computed them. */
function summaryStats(data, classes) {
  const stats = [stat(data.records, t("records_checked"), "stat-total"),
                 stat(classes.reduce((n, c) => n + moved(c), 0), t("values_change"), "stat-moved")];
  if (data.followups) stats.push(stat(data.followups.created, t("followups_created")), stat(data.followups.cancelled, t("followups_cancelled")));
  if (data.pool_entries !== undefined) stats.push(stat(data.pool_entries, t("pool_entries")));
  if (data.automations) stats.push(stat(Object.values(data.automations).reduce((a, b) => a + b, 0), t("automations_fire")));
  return el("div", {class: "impact-summary"}, ...stats);
}

function render(data) {
  page.impact = data;
  const classes = classificationsOf(data);
  const parts = [summaryStats(data, classes)];
  for (const [object, o] of Object.entries(data.objects || {})) {
    if (o.reason) parts.push(el("p", {class: "meta"}, t("computed_in_python", {object, reason: o.reason})));
  }
  for (const c of classes) {
    parts.push(el("section", {class: "card impact-class", dataset: {key: c.key}},
      el("h2", {}, c.label, " ", el("code", {class: "meta"}, c.key), " · ", t("n_change", {n: num(moved(c))}),
        c.status !== "changed" ? el("span", {class: "badge"}, t("status_" + c.status)) : ""),
      el("div", {class: "impact-tables"}, countsTable(c), matrix(c)), el("div", {id: `samples-${c.key}`, class: "sample-box"})));
  }
  if (!classes.length) parts.push(el("p", {class: "meta card"}, t("no_classifications")));
  const autos = Object.entries(data.automations || {});
  if (autos.length) {
    parts.push(el("section", {class: "card"}, el("h2", {}, t("automations")),
      el("ul", {}, ...autos.map(([k, n]) => el("li", {}, el("code", {}, k), "：", t("fires_n", {n: num(n)}))))));
  }
  $("impact-out").replaceChildren(...parts);
  for (const c of classes) {
    const first = c.transitions.filter((tr) => tr.from !== tr.to).sort((a, b) => b.count - a.count)[0];
    if (first) sampleList(c, first);
  }
}

function showProblems(problems) {
  $("impact-problems").replaceChildren(...problems.map((p) => el("li", {class: "error"},
    el("a", {href: "/studio/yaml"}, where(p)), "：", p.message)));
  $("impact-blocked").hidden = !problems.length;
}

function updateButton() { $("publish").disabled = page.blocked || !page.impact || page.publishing; }

/** A preview that takes longer than the request waited: its count, polled until the result is there. */
async function computing(reply) {
  while (reply.status === 202) {
    const job = reply.data.job;
    const bar = el("progress", {max: String(Math.max(job.total, 1)), value: String(job.done), "aria-label": t("computing_impact")});
    $("impact-out").replaceChildren(el("div", {class: "publish-progress", role: "status"}, bar,
      el("p", {class: "meta"}, t("computing_n", {done: num(job.done), total: num(job.total)}))));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    reply = await api("GET", `/studio/api/impact/${job.id}`);
  }
  return reply;
}

async function load() {
  $("impact-out").replaceChildren(el("p", {class: "meta"}, t("computing_impact")));
  page.impact = null;
  updateButton();
  const reply = await computing(await api("POST", "/studio/api/impact"));
  if (reply.status === 409 && reply.data && reply.data.job) return;  // a newer preview (another load) took over
  if (reply.status === 409 || (reply.data && reply.data.problems)) {
    showProblems(reply.data.problems || []);
    $("impact-out").replaceChildren(el("p", {class: "flash error"}, errorText(reply)));
    return;
  }
  if (!reply.ok) { $("impact-out").replaceChildren(el("p", {class: "flash error", role: "alert"}, errorText(reply))); return; }
  render(reply.data);
  updateButton();
}

function summaryForDialog() {
  const data = page.impact;
  const classes = classificationsOf(data);
  const follow = data.followups || {};
  const lines = classes.map((c) => {
    const moves = c.transitions.filter((tr) => tr.from !== tr.to && tr.count).map((tr) => `${label(tr.from)}→${label(tr.to)}: ${num(tr.count)}`);
    return el("li", {}, `${c.label}：`, t("n_change", {n: num(moved(c))}), moves.length ? "（" + moves.join("，") + "）" : "");
  });
  if (follow.created || follow.cancelled) lines.push(el("li", {}, t("followups_line", {created: num(follow.created), cancelled: num(follow.cancelled)})));
  if (data.pool_entries) lines.push(el("li", {}, t("pool_line", {n: num(data.pool_entries)})));
  const note = $("publish-note").value.trim();
  return el("div", {}, el("p", {}, t("publish_body", {n: num(data.records)})),
    el("ul", {}, ...lines), el("p", {class: "meta"}, note ? t("note_is", {note}) : t("no_note_given")));
}

async function publishDraft() {
  if (!(await confirmDialog(t("publish_title"), summaryForDialog(), t("publish_ok")))) return;
  $("publish").disabled = true;
  say(t("publishing"));
  const reply = await api("POST", "/studio/api/publish", {note: $("publish-note").value.trim()});
  if (reply.status === 202) return follow(reply.data.job);
  finish(reply);
}

/** The answer of a publish: the version it made, or what went wrong. */
async function finish(reply) {
  $("publish-progress").hidden = true;
  if (!reply.ok) {
    if (reply.data && reply.data.problems) showProblems(reply.data.problems);
    say(errorText(reply), "bad");
    updateButton();
    return;
  }
  $("publish-result").replaceChildren(el("p", {class: "flash ok", id: "published", role: "status"},
    t("published_as", {v: reply.data.version}), " ", el("a", {href: "/studio/versions"}, t("see_versions"))));
  say(t("published_as", {v: reply.data.version}), "ok");
  await draft.load();
  load();
  watchPlanning(true);
}

/** After a large publish the worker plans every record again (`workflows.replan`): its count, polled until
 * done; `done` also shows that it has finished (right after this page's own publish). */
async function watchPlanning(done = false) {
  const box = $("planning");
  for (;;) {
    const reply = await api("GET", "/studio/api/planning");
    const p = reply.ok && reply.data.planning;
    if (!p || (p.finished && !done)) { box.hidden = true; return; }
    box.hidden = false;
    done = true;  // seen running: its end is shown too
    const bar = box.querySelector("progress");
    bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    $("planning-text").textContent = t(p.finished ? "planning_done" : "planning_running",
      {v: reply.data.version, done: num(p.done), total: num(p.total)});
    const failing = $("planning-failing");
    failing.hidden = !p.failing;
    if (p.failing) failing.textContent = t("planning_failing", {error: p.failing.error, at: formatTime(p.failing.retry_at)});
    if (p.finished) return;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** A publish that takes longer than the request waited: its phase and count, polled until it ends. */
async function follow(job) {
  page.publishing = true;
  $("publish").disabled = true;
  const box = $("publish-progress");
  box.hidden = false;
  box.scrollIntoView({block: "nearest"});
  say(t("publishing"));
  for (;;) {
    const bar = box.querySelector("progress");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    $("publish-phase").textContent = t(job.phase === "plan" ? "publish_planning" : "publish_reclassifying",
      {done: num(job.done), total: num(job.total), by: job.by || "—"});
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const reply = await api("GET", `/studio/api/publish/${job.id}`);
    if (reply.status !== 202) { page.publishing = false; return finish(reply); }
    job = reply.data.job;
  }
}

function init() {
  const restored = new URLSearchParams(window.location.search).get("restored");
  if (restored) say(t("restored_hint", {v: restored}), "ok");
  $("publish").addEventListener("click", publishDraft);
  $("refresh").addEventListener("click", load);
  api("GET", "/studio/api/publish/running").then((reply) => { if (reply.ok && reply.data.job) follow(reply.data.job); });
  watchPlanning();
  draft.on((s) => {
    const problems = s.problems || [];
    page.blocked = problems.length > 0 || !s.document;
    showProblems(problems);
    updateButton();
  });
  load();
}

init();
