// Dashboards: draws each chart (ECharts) from the numbers the page already holds, exports it as PNG,
// and re-reads every chart as JSON when the date range, team or funnel field change, keeping the URL in step
// so the view can be shared. The table under each chart holds the same numbers for screen readers.
(function () {
  "use strict";
  var form = document.getElementById("dashboard-filters");
  if (!form || !window.echarts) return;
  var cards = Array.prototype.slice.call(document.querySelectorAll(".chart-card"));
  var instances = {};

  function series(data, type) {
    return data.columns.slice(1).map(function (name, j) {
      return {type: type, name: name, data: data.rows.map(function (r) { return r[j + 1]; }),
              label: {show: type === "bar" && data.columns.length === 2, position: "top"}};
    });
  }

  function option(data) {
    var labels = data.rows.map(function (r) { return String(r[0]); });
    var base = {animation: false, tooltip: {trigger: data.kind === "heatmap" || data.kind === "funnel" ? "item" : "axis"},
                grid: {left: 48, right: 16, top: 40, bottom: 56}};
    if (data.kind === "heatmap") {
      var cells = [], max = 0;
      data.rows.forEach(function (r, y) {
        r.slice(1).forEach(function (n, x) { cells.push([x, y, n]); if (n > max) max = n; });
      });
      base.grid.top = 16;
      base.grid.bottom = 72;
      base.xAxis = {type: "category", data: data.columns.slice(1), splitArea: {show: true}};
      base.yAxis = {type: "category", data: labels, inverse: true, splitArea: {show: true}};
      base.visualMap = {min: 0, max: Math.max(max, 1), calculable: false, orient: "horizontal", left: "center",
                        bottom: 0, itemHeight: 120};
      base.series = [{type: "heatmap", data: cells, label: {show: true}}];
      return base;
    }
    if (data.kind === "funnel") {
      base.series = [{type: "funnel", sort: "none", left: "10%", width: "80%", top: 16, bottom: 16,
                      label: {formatter: "{b}: {c}"},
                      data: data.rows.map(function (r) { return {name: String(r[0]), value: r[1]}; })}];
      return base;
    }
    base.xAxis = {type: "category", data: labels, axisLabel: {hideOverlap: true}};
    base.yAxis = {type: "value", minInterval: 1};
    base.series = series(data, data.kind === "line" ? "line" : "bar");
    if (base.series.length > 1) base.legend = {type: "scroll", top: 0};
    return base;
  }

  function draw(card, data) {
    var box = card.querySelector(".chart");
    var chart = instances[data.key] || (instances[data.key] = echarts.init(box, null, {renderer: "canvas"}));
    chart.setOption(option(data), true);
  }

  function cell(tag, text, scope) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (scope) el.setAttribute("scope", scope);
    return el;
  }

  function fill(card, data) {
    card.querySelector('[data-k="title"]').textContent = data.title;
    card.querySelector('[data-k="note"]').textContent = data.note;
    var table = card.querySelector("table");
    table.querySelector("caption").textContent = data.title;
    var head = document.createElement("tr");
    data.columns.forEach(function (c) { head.appendChild(cell("th", c, "col")); });
    table.tHead.replaceChildren(head);
    var body = table.tBodies[0];
    body.replaceChildren();
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.appendChild(cell("th", r[0], "row"));
      r.slice(1).forEach(function (n) { tr.appendChild(cell("td", n)); });
      body.appendChild(tr);
    });
    if (!data.rows.length) {
      var td = cell("td", table.getAttribute("data-empty"));
      td.colSpan = data.columns.length;
      td.className = "empty";
      body.appendChild(document.createElement("tr")).appendChild(td);
    }
  }

  function links(card, query, args) {
    var csv = card.querySelector("a.csv");
    csv.href = csv.getAttribute("data-base") + "?" + query;
    card.querySelector("button.png").setAttribute("data-name", card.getAttribute("data-key") + "-" + args.from +
                                                  "-" + args.to + ".png");
  }

  function problems(list) {
    var box = document.getElementById("dashboard-problems");
    box.replaceChildren();
    Object.keys(list).forEach(function (k) {
      var p = cell("p", list[k]);
      p.className = "flash error";
      box.appendChild(p);
    });
  }

  function refresh(query) {
    form.setAttribute("aria-busy", "true");
    var pending = cards.map(function (card) {
      return fetch(card.getAttribute("data-json") + "?" + query,
                   {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (answer) {
          draw(card, answer.chart);
          fill(card, answer.chart);
          links(card, query, answer.args);
          card.classList.remove("stale");
          return answer;
        })
        .catch(function () { card.classList.add("stale"); });
    });
    Promise.all(pending).then(function (answers) {
      form.removeAttribute("aria-busy");
      var first = answers.filter(Boolean)[0];
      if (first) problems(first.problems);
      document.body.setAttribute("data-dashboard", "ready");
    });
  }

  cards.forEach(function (card) { draw(card, JSON.parse(card.getAttribute("data-chart"))); });
  document.body.setAttribute("data-dashboard", "ready");

  var shown = new URLSearchParams(window.location.search).get("classification") ||
              form.elements.classification.value;
  form.addEventListener("submit", function (event) {
    var query = new URLSearchParams(new FormData(form));
    if (!query.get("team")) query.delete("team");
    if (query.get("classification") !== shown) return;  // another object's fields: load the page afresh
    event.preventDefault();
    document.body.setAttribute("data-dashboard", "loading");
    window.history.pushState(null, "", window.location.pathname + "?" + query.toString());
    refresh(query.toString());
  });
  window.addEventListener("popstate", function () { window.location.reload(); });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.png");
    if (!button) return;
    var chart = instances[button.closest(".chart-card").getAttribute("data-key")];
    if (!chart) return;
    var link = document.createElement("a");
    link.href = chart.getDataURL({type: "png", pixelRatio: 2, backgroundColor: "#fff"});
    link.download = button.getAttribute("data-name");
    document.body.appendChild(link);
    link.click();
    link.remove();
  });
  window.addEventListener("resize", function () {
    Object.keys(instances).forEach(function (k) { instances[k].resize(); });
  });
})();
