// History of published versions: who published what and why, a readable diff between any two,
// and rollback — an older version restored into the draft, then previewed and published as usual.
import {api, el, t, errorText, confirmDialog, say, formatTime} from "./common.js";

const $ = (id) => document.getElementById(id);
let versions = [];


const REPORTED = ["objects_added", "fields_added", "fields_removed", "fields_retyped", "classifications_added",
                  "classifications_removed", "reclassified"];

/** The publish report in words (the keys this page knows; others are details for the command line). */
function reportLine(report) {
  if (!report) return "";
  const bits = [];
  for (const k of REPORTED) {
    const v = report[k];
    if (Array.isArray(v) && v.length) bits.push(`${t("report_" + k)}：${v.join("、")}`);
    else if (typeof v === "number") bits.push(`${t("report_" + k)}：${v}`);
  }
  return bits.join("；");
}

function renderList() {
  const body = $("version-rows");
  body.replaceChildren(...versions.map((v, i) => el("tr", {dataset: {version: v.id}},
    el("td", {}, el("strong", {}, "v" + v.id), i === 0 ? el("span", {class: "badge good"}, t("in_force")) : ""),
    el("td", {}, formatTime(v.published_at)), el("td", {}, v.published_by || "—"),
    el("td", {class: "wrap"}, v.note || el("span", {class: "meta"}, t("no_note")), el("div", {class: "meta"}, reportLine(v.report))),
    el("td", {}, el("button", {type: "button", class: "restore", onclick: () => restore(v)}, i === 0 ? t("restore_current") : t("restore"))))));
  $("versions-empty").hidden = versions.length > 0;
  $("diff-form").hidden = versions.length < 2;
  for (const id of ["diff-a", "diff-b"]) {
    $(id).replaceChildren(...versions.map((v) => el("option", {value: v.id}, `v${v.id} · ${formatTime(v.published_at)}`)));
  }
  if (versions.length >= 2) { $("diff-a").value = versions[1].id; $("diff-b").value = versions[0].id; }
}

async function restore(v) {
  if (!(await confirmDialog(t("restore_title", {v: v.id}), t("restore_body"), t("restore_ok"), true))) return;
  const reply = await api("POST", `/studio/api/versions/${v.id}/restore`);
  if (!reply.ok) { say(errorText(reply), "bad"); return; }
  window.location.assign("/studio/impact?restored=" + v.id);
}

function modelDiff(m) {
  const rows = Object.entries(m || {}).filter(([k, v]) => REPORTED.includes(k) && Array.isArray(v) && v.length);
  if (!rows.length) return el("p", {class: "meta"}, t("no_model_change"));
  return el("ul", {class: "model-diff"}, ...rows.map(([k, v]) => el("li", {}, el("strong", {}, t("report_" + k)), "：", v.join("、"))));
}

async function showDiff() {
  const a = $("diff-a").value, b = $("diff-b").value;
  const out = $("diff-out");
  const reply = await api("GET", `/studio/api/versions/${a}/diff/${b}`);
  if (!reply.ok) { out.replaceChildren(el("p", {class: "flash error"}, errorText(reply))); return; }
  const lines = reply.data.text_diff || [];
  out.replaceChildren(el("h3", {}, t("model_changes")), modelDiff(reply.data.model_diff), el("h3", {}, t("text_changes")),
    lines.length ? el("pre", {class: "diff"}, ...lines.map((line) => el("span", {class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : ""}, line.replace(/\n$/, "") + "\n")))
                 : el("p", {class: "meta"}, t("same_text")));
}

async function init() {
  $("diff-show").addEventListener("click", showDiff);
  const reply = await api("GET", "/studio/api/versions");
  if (!reply.ok) { say(errorText(reply), "bad"); return; }
  versions = [...reply.data].sort((x, y) => y.id - x.id);
  renderList();
}

init();
