// The template market (模板市场): install an examples/ bundle into the draft in one click.
import {api, el, t, errorText, confirmDialog, say, draft} from "./common.js";

async function install(tpl) {
  if (!(await confirmDialog(t("install_title", {title: tpl.title || tpl.name}), t("install_body"), t("install_ok"), true))) return;
  const reply = await draft.replaceWith(`/studio/api/templates/${encodeURIComponent(tpl.name)}/install`);
  if (reply.ok) window.location.assign("/studio/");
}

async function init() {
  const grid = document.getElementById("template-grid");
  const reply = await api("GET", "/studio/api/templates");
  if (!reply.ok) { say(errorText(reply), "bad"); return; }
  grid.replaceChildren(...reply.data.map((tpl) => el("article", {class: "card template", dataset: {name: tpl.name}},
    el("h2", {}, tpl.title || tpl.name), el("p", {class: "meta description"}, tpl.description || ""), el("code", {class: "meta"}, tpl.name),
    el("div", {class: "actions"}, el("button", {type: "button", class: "primary", onclick: () => install(tpl)}, t("install"))))));
  if (!reply.data.length) grid.append(el("p", {class: "empty"}, t("no_templates")));
}

init();
