// The rule tester: run the DRAFT bundle on a live record, on values typed into the draft's own
// form, or on pasted JSON, and show formulas, classification values, which rules held and why,
// and the follow-up due date with its reminders.
import {api, el, t, draft, errorText, say, where, formatTime} from "./common.js";
import {recordPicker} from "./expr.js";
import {renderForm, collectValues} from "./preview.js";

const $ = (id) => document.getElementById(id);
const page = {object: null, record: null};

function objects() { return (draft.doc && draft.doc.objects) || {}; }

function renderInputs() {
  const keys = Object.keys(objects()).filter((k) => !objects()[k].parent);
  if (!keys.includes(page.object)) page.object = keys[0] || null;
  const select = $("test-object");
  select.replaceChildren(...keys.map((k) => el("option", {value: k}, objects()[k].label || k)));
  select.value = page.object || "";
  $("test-form").replaceChildren(page.object ? renderForm(objects()[page.object].fields, "tv") : el("p", {class: "empty"}, t("no_fields_yet")));
  $("test-live").replaceChildren(page.object ? recordPicker(page.object, (rec) => { page.record = rec.id; run({record_id: rec.id}); }, t("live_record")) : "");
}

function value(v) {
  if (v === null || v === undefined) return el("span", {class: "meta"}, t("empty_value"));
  if (Array.isArray(v)) return v.map((x) => el("span", {class: "badge tag"}, String(x)));
  return el("code", {}, typeof v === "object" ? JSON.stringify(v) : String(v));
}


function render(result) {
  const out = $("test-result");
  const parts = [];
  if ((result.problems || []).length) {
    parts.push(el("div", {class: "flash error", role: "alert"}, el("p", {}, t("record_problems")),
      el("ul", {}, ...result.problems.map((p) => el("li", {}, `${p.field ? p.field + "：" : ""}${p.message}`)))));
  }
  const formulas = Object.entries(result.formulas || {});
  if (formulas.length) {
    parts.push(el("section", {class: "card"}, el("h2", {}, t("formulas")),
      el("dl", {class: "fields"}, ...formulas.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, value(v))]))));
  }
  for (const c of result.classifications || []) {
    parts.push(el("section", {class: "card test-class", dataset: {key: c.key}},
      el("h2", {}, c.label || c.key, " ", el("span", {class: "badge t0 test-value"}, c.value === null || c.value === undefined ? t("empty_value") : Array.isArray(c.value) ? c.value.join("、") : String(c.value))),
      ...(c.explain || []).map((s) => el("p", {class: "because"}, s)),
      el("div", {class: "table-wrap"}, el("table", {class: "rule-table"},
        el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, t("when")), el("th", {}, t("held")))),
        el("tbody", {}, ...(c.rules || []).map((r) => el("tr", {class: r.held ? "held" : "not-held"},
          el("td", {}, String(r.index + 1)), el("td", {class: "code wrap"}, r.when), el("td", {}, r.held ? "✓ " + t("yes") : "✗ " + t("no")))))))));
  }
  if (result.followup) {
    const f = result.followup;
    parts.push(el("section", {class: "card", id: "test-followup"}, el("h2", {}, t("followup_due")),
      el("p", {}, t("policy_due", {policy: f.label || f.policy || ""}), el("strong", {}, formatTime(f.due_at)),
        f.overdue ? el("span", {class: "badge bad"}, t("overdue")) : ""),
      f.cadence ? el("p", {class: "because"}, t("cadence_is", {cadence: f.cadence})) : "",
      el("p", {class: "meta"}, f.last_activity ? t("last_activity", {at: formatTime(f.last_activity)}) : t("no_activity_yet")),
      (f.reminders || []).length
        ? el("ul", {}, ...f.reminders.map((r) => el("li", {}, formatTime(r.at), " → ", r.notify, r.label ? `（${r.label}）` : "",
            r.escalation ? el("span", {class: "badge"}, t("escalation")) : "")))
        : el("p", {class: "meta"}, t("no_reminders"))));
  } else {
    parts.push(el("p", {class: "meta"}, t("no_followup_due")));
  }
  out.replaceChildren(...parts);
}

async function run(body) {
  $("test-result").replaceChildren(el("p", {class: "meta"}, t("running")));
  const reply = await api("POST", "/studio/api/test", body);
  if (!reply.ok) {
    const problems = (reply.data && reply.data.problems) || [];
    $("test-result").replaceChildren(el("div", {class: "flash error", role: "alert"}, el("p", {}, errorText(reply)),
      problems.length ? el("ul", {}, ...problems.map((p) => el("li", {}, p.line ? `${where(p)}：${p.message}` : `${p.field || ""} ${p.message}`))) : ""));
    return;
  }
  render(reply.data);
  say(t("tested"), "ok");
  const box = $("test-result");
  if (box.getBoundingClientRect().top < 0 || box.getBoundingClientRect().top > window.innerHeight - 80) box.scrollIntoView({block: "start"});
}

function init() {
  $("test-object").addEventListener("change", (e) => { page.object = e.target.value; renderInputs(); });
  $("run-typed").addEventListener("click", () => run({object: page.object, values: collectValues($("test-form").querySelector("form"))}));
  $("run-pasted").addEventListener("click", () => {
    let values;
    try { values = JSON.parse($("test-json").value || "{}"); } catch (e) {
      $("test-result").replaceChildren(el("p", {class: "flash error", role: "alert"}, t("bad_json", {message: e.message})));
      return;
    }
    run({object: page.object, values});
  });
  let first = true;
  draft.on(() => { if (first) { first = false; renderInputs(); } });
  document.addEventListener("studio:replaced", renderInputs);

}

init();
