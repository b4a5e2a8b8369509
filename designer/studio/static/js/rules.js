// The rules editor: classifications as tables (when / value / label, hit policy, default),
// scorecards with points, follow-up cadences with reminders and escalation, public pools and
// automations — each bound to its place in the draft (see bind.js), redrawn only when the
// document's shape changes.
import {el, t, draft, confirmDialog, where} from "./common.js";
import {textBox, selectBox, checkBox, exprBox, rowsEditor, appendTo, shape, redraw, refreshProblems} from "./bind.js";
import {forgetCompletions, recordPicker, sample} from "./expr.js";

const root = document.getElementById("rules");

function objectKeys(topOnly) {
  const objs = (draft.doc && draft.doc.objects) || {};
  return Object.keys(objs).filter((k) => !topOnly || !objs[k].parent);
}
function objectChoices() { return objectKeys(false).map((k) => [k, `${draft.doc.objects[k].label || k} (${k})`]); }
function firstObject() { return objectKeys(true)[0] || objectKeys(false)[0] || "customer"; }
function childChoices(object) {
  const objs = (draft.doc && draft.doc.objects) || {};
  return [["", "—"], ...Object.keys(objs).filter((k) => objs[k].parent === object).map((k) => [k, objs[k].label || k])];
}

function freshKey(list, base) {
  const taken = new Set((draft.get([list]) || []).map((x) => x && x.key));
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}_${n}`)) return `${base}_${n}`;
}

/** The header of a card for list item `path` (key, label, object) with move and delete buttons. */
function cardHead(path, item, title) {
  const [list, i] = path;
  const count = (draft.get([list]) || []).length;
  const move = (to) => draft.ops([{op: "move", path, to}]);
  return el("div", {class: "card-head"},
    el("h3", {}, title, " ", el("code", {class: "meta"}, item.key || "")),
    el("div", {class: "card-tools"},
      item.key ? el("a", {href: `/studio/yaml#key=${item.key}`, title: t("see_yaml")}, "YAML") : "",
      el("button", {type: "button", class: "link", disabled: i === 0, "aria-label": t("move_up"), onclick: () => move(i - 1)}, "↑"),
      el("button", {type: "button", class: "link", disabled: i === count - 1, "aria-label": t("move_down"), onclick: () => move(i + 1)}, "↓"),
      el("button", {type: "button", class: "link danger", onclick: async () => {
        if (await confirmDialog(t("delete_x", {name: item.label || item.key}), t("delete_rule_body"), t("delete"), true)) draft.ops([{op: "remove", path}]);
      }}, t("delete"))));
}

function basics(path, item) {
  return el("div", {class: "grid3"},
    textBox([...path, "label"], t("label")),
    textBox([...path, "key"], t("own_key"), {keep: true}),
    selectBox([...path, "object"], t("object"), objectChoices()));
}

// -- classifications and scorecards --------------------------------------------------------------

function classificationCard(i, c) {
  const path = ["classifications", i];
  const sum = c.hit === "sum";
  const object = c.object || firstObject();
  const head = cardHead(path, c, c.label || (sum ? t("scorecard") : t("classification")));
  const settings = el("div", {class: "grid3"},
    selectBox([...path, "hit"], t("hit_policy"), [["first", t("hit_first")], ["collect", t("hit_collect")], ["sum", t("hit_sum")]]),
    sum ? textBox([...path, "base"], t("base_points"), {kind: "num", placeholder: "0"})
        : textBox([...path, "default"], t("default_value"), {kind: c.hit === "collect" ? "list" : "text", help: t("default_help")}),
    sum ? null : textBox([...path, "values"], t("allowed_values"), {kind: "list", help: t("values_help")}));
  const rules = rowsEditor([...path, "rules"], {
    cells: (rp) => [
      exprBox([...rp, "when"], t("when"), object, {context: "classification"}),
      sum ? textBox([...rp, "points"], t("points"), {kind: "num", keep: true}) : textBox([...rp, "value"], t("value"), {keep: true}),
      textBox([...rp, "label"], t("rule_label")),
    ],
    fresh: () => (sum ? {when: "", points: 10} : {when: "", value: ""}),
    addLabel: t("add_rule"), empty: t("no_rules"),
  });
  return el("article", {class: "card rule-card", dataset: {kind: sum ? "scorecard" : "classification", key: c.key || ""}},
    head, basics(path, c), settings, el("h4", {}, t("rules_in_order")), rules);
}

function addClassification(sum) {
  const object = firstObject();
  const value = sum
    ? {key: freshKey("classifications", "score"), object, label: t("new_scorecard"), hit: "sum", base: 0, rules: []}
    : {key: freshKey("classifications", "tier"), object, label: t("new_classification"), hit: "first", rules: []};
  return appendTo(["classifications"], value);
}

// -- follow-up, pools, automations ---------------------------------------------------------------

function followupCard(i, f) {
  const path = ["followup", i];
  const object = f.object || firstObject();
  return el("article", {class: "card rule-card", dataset: {kind: "followup", key: f.key || ""}},
    cardHead(path, f, f.label || t("followup")), basics(path, f),
    el("div", {class: "grid3"},
      selectBox([...path, "activity"], t("activity_object"), childChoices(object)),
      textBox([...path, "activity_time"], t("activity_time"), {placeholder: "created_at"}),
      checkBox([...path, "working_days"], t("working_days"))),
    el("h4", {}, t("cadence")),
    rowsEditor([...path, "cadence"], {
      cells: (rp) => [exprBox([...rp, "when"], t("when"), object), textBox([...rp, "every"], t("every"), {keep: true, placeholder: "7d"}),
                      textBox([...rp, "label"], t("rule_label"))],
      fresh: () => ({when: "", every: "30d"}), addLabel: t("add_cadence"),
    }),
    el("h4", {}, t("reminders")),
    rowsEditor([...path, "reminders"], {
      cells: (rp) => [textBox([...rp, "at"], t("remind_at"), {keep: true, placeholder: "-1d", help: t("remind_at_help")}),
                      textBox([...rp, "notify"], t("notify_who"), {keep: true, placeholder: "owner", help: t("notify_help")}),
                      textBox([...rp, "label"], t("rule_label"))],
      fresh: () => ({at: "1d", notify: "owner"}), addLabel: t("add_reminder"), layout: "short",
    }));
}

function poolCard(i, p) {
  const path = ["pool", i];
  return el("article", {class: "card rule-card", dataset: {kind: "pool", key: p.key || ""}},
    cardHead(path, p, p.label || t("pool")), basics(path, p),
    exprBox([...path, "reclaim_when"], t("reclaim_when"), p.object || firstObject(), {keep: false}),
    el("div", {class: "grid3"},
      textBox([...path, "members"], t("members"), {kind: "list", help: t("members_help")}),
      textBox([...path, "warn_before"], t("warn_before"), {placeholder: "3d"}),
      textBox([...path, "protect"], t("protect"), {placeholder: "7d"}),
      textBox([...path, "hold_limit"], t("hold_limit"), {kind: "int"}),
      textBox([...path, "claim_limit_per_day"], t("claim_limit_per_day"), {kind: "int"}),
      textBox([...path, "reclaim_cooldown"], t("reclaim_cooldown"), {placeholder: "7d"})));
}

const ACTIONS = {
  task: () => ({title: t("new_task_title"), assignee: "owner", due: "2d"}),
  notify: () => ({to: "owner", text: t("new_notify_text")}),
  assign: () => ({strategy: "round_robin", users: []}),
  set: () => ({}),
  webhook: () => ({url: "https://"}),
  to_pool: () => "public",
};

function actionCells(rp, action, object, context) {
  const type = Object.keys(action || {})[0] || "task";
  const typeSel = el("select", {"aria-label": t("action_type"), onchange: (e) => draft.ops([{op: "set", path: rp, value: {[e.target.value]: ACTIONS[e.target.value]()}}])},
    ...Object.keys(ACTIONS).map((k) => el("option", {value: k}, t("action_" + k))));
  typeSel.value = type;
  const p = [...rp, type];
  const cells = [el("div", {class: "field"}, el("span", {class: "label"}, t("action_type")), typeSel)];
  if (type === "task") cells.push(textBox([...p, "title"], t("task_title"), {keep: true}), textBox([...p, "assignee"], t("assignee"), {placeholder: "owner"}), textBox([...p, "due"], t("due_in"), {placeholder: "2d"}));
  if (type === "notify") cells.push(textBox([...p, "to"], t("notify_who"), {keep: true}), textBox([...p, "text"], t("notify_text"), {keep: true, help: t("template_help")}));
  if (type === "assign") {
    cells.push(selectBox([...p, "strategy"], t("strategy"), [["round_robin", t("round_robin")], ["least_loaded", t("least_loaded")], ["rule", t("by_rule")]]),
               textBox([...p, "users"], t("users"), {kind: "list"}));
  }
  if (type === "set") {
    const pairs = Object.entries(action.set || {});
    for (const [field] of pairs) cells.push(exprBox([...p, field], t("set_field", {field}), object, {want: "any", context}));
    const name = el("input", {"aria-label": t("field_to_set"), placeholder: t("field_to_set")});
    cells.push(el("div", {class: "field inline-add"}, name, el("button", {type: "button", onclick: () => {
      const k = name.value.trim();
      if (k) draft.ops([{op: "set", path: [...p, k], value: "''"}]);
    }}, t("add"))));
  }
  if (type === "webhook") cells.push(textBox([...p, "url"], t("webhook_url"), {keep: true}));
  if (type === "to_pool") cells.push(textBox(p, t("pool_key"), {keep: true}));
  return cells;
}

function automationCard(i, a) {
  const path = ["automations", i];
  const object = a.object || firstObject();
  // A `changed` automation may also read the values before the change (`old.tier`).
  const context = a.on === "changed" ? "changed" : "condition";
  const trigger = [selectBox([...path, "on"], t("trigger"), [["created", t("on_created")], ["changed", t("on_changed")], ["date", t("on_date")], ["schedule", t("on_schedule")]])];
  if (a.on === "changed") trigger.push(textBox([...path, "fields"], t("watched_fields"), {kind: "list"}));
  if (a.on === "date") trigger.push(textBox([...path, "field"], t("date_field"), {keep: true}), textBox([...path, "offset"], t("offset"), {placeholder: "-30d"}));
  if (a.on === "schedule") trigger.push(textBox([...path, "cron"], t("cron"), {keep: true, placeholder: "0 9 * * 1-5"}));
  return el("article", {class: "card rule-card", dataset: {kind: "automation", key: a.key || ""}},
    cardHead(path, a, a.label || t("automation")), basics(path, a),
    el("div", {class: "grid3"}, ...trigger),
    exprBox([...path, "when"], t("condition_optional"), object, {keep: false, context}),
    el("h4", {}, t("actions")),
    rowsEditor([...path, "do"], {cells: (rp, action) => actionCells(rp, action, object, context), fresh: () => ({task: ACTIONS.task()}), addLabel: t("add_action"), layout: "auto"}));
}

// -- page ----------------------------------------------------------------------------------------

function section(id, title, intro, cards, addButtons) {
  return el("section", {id, class: "rules-section"}, el("h2", {}, title), el("p", {class: "meta"}, intro), ...cards,
    el("div", {class: "actions"}, ...addButtons));
}

function draw() {
  const doc = draft.doc;
  if (!doc) return [el("p", {class: "flash error"}, t("draft_unparsable"))];
  const cls = (doc.classifications || []).map((c, i) => [c, i]);
  return [
    section("s-classifications", t("classifications"), t("classifications_intro"),
      cls.filter(([c]) => c && c.hit !== "sum").map(([c, i]) => classificationCard(i, c)),
      [el("button", {type: "button", id: "add-classification", onclick: () => addClassification(false)}, t("add_classification"))]),
    section("s-scorecards", t("scorecards"), t("scorecards_intro"),
      cls.filter(([c]) => c && c.hit === "sum").map(([c, i]) => classificationCard(i, c)),
      [el("button", {type: "button", id: "add-scorecard", onclick: () => addClassification(true)}, t("add_scorecard"))]),
    section("s-followup", t("followups"), t("followups_intro"),
      (doc.followup || []).map((f, i) => followupCard(i, f)),
      [el("button", {type: "button", onclick: () => appendTo(["followup"], {key: freshKey("followup", "cadence"), object: firstObject(), label: t("new_followup"),
        cadence: [{when: "true", every: "30d"}], working_days: true, reminders: [{at: "-1d", notify: "owner"}, {at: "2d", notify: "owner"}, {at: "5d", notify: "manager"}]})}, t("add_followup"))]),
    section("s-pool", t("pools"), t("pools_intro"),
      (doc.pool || []).map((p, i) => poolCard(i, p)),
      [el("button", {type: "button", onclick: () => appendTo(["pool"], {key: freshKey("pool", "public"), object: firstObject(), label: t("new_pool"),
        reclaim_when: "days_since(updated_at) > 30", warn_before: "3d", protect: "7d"})}, t("add_pool"))]),
    section("s-automations", t("automations"), t("automations_intro"),
      (doc.automations || []).map((a, i) => automationCard(i, a)),
      [el("button", {type: "button", onclick: () => appendTo(["automations"], {key: freshKey("automations", "auto"), object: firstObject(), label: t("new_automation"),
        on: "created", do: [{task: ACTIONS.task()}]})}, t("add_automation"))]),
  ];
}

let drawn = null;
let sampleFor = null;
draft.on((s) => {
  forgetCompletions();
  const now = shape(s.document);
  if (now !== drawn) { drawn = now; redraw(root, draw); }
  refreshProblems(root);
  const mine = (s.problems || []).filter((p) => !(p.path || "").startsWith("objects"));
  document.getElementById("rules-problems").replaceChildren(...mine.map((p) => el("li", {class: "error"}, `${where(p)}：${p.message}`)));
  const obj = firstObject();
  if (s.document && obj && sampleFor !== obj) {
    sampleFor = obj;
    document.getElementById("sample").replaceChildren(recordPicker(obj, (rec) => sample.set(rec.id)));
  }
});
document.addEventListener("studio:replaced", () => { drawn = null; });

