// Live form behaviour: visible_if / required_if follow what is typed (asked of the server, which
// applies the same rules as on save), and 省/市/区 fields become cascading selects.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');

  function values(form) {
    var out = {};
    var prefix = form.getAttribute("data-prefix") || "";
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.name === "Version" || el.name === "allow_duplicates" || el.disabled) return;
      var key = el.name.indexOf("-") >= 0 ? el.name.split("-").pop() : el.name;
      if (el.type === "checkbox") {
        if (!Array.isArray(out[key])) out[key] = [];
        if (el.checked) out[key].push(el.value);
      } else if (el.type !== "radio" || el.checked) {
        out[key] = el.value;
      }
    });
    return out;
  }

  function apply(form, state) {
    form.querySelectorAll(".field[data-field]").forEach(function (div) {
      var key = div.getAttribute("data-field");
      var hidden = state.hidden.indexOf(key) >= 0;
      div.hidden = hidden;
      div.classList.toggle("required", state.required.indexOf(key) >= 0);
    });
    // A section whose every field is hidden goes too, heading and all.
    form.querySelectorAll("fieldset.form-section").forEach(function (set) {
      set.hidden = !set.querySelector(".field:not([hidden])");
    });
  }

  function watch(form) {
    var url = form.getAttribute("data-state");
    var timer = null, seq = 0;
    function refresh() {
      var mine = ++seq;
      fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.content : ""},
        body: JSON.stringify(values(form))
      }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (state) { if (state && mine === seq) apply(form, state); })
        .catch(function () { /* offline: the server still checks on save */ });
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 120); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 10); });
    refresh();
  }

  function region(input) {
    var box = document.createElement("div");
    box.className = "region";
    var selects = [0, 1, 2].map(function (level) {
      var s = document.createElement("select");
      s.setAttribute("aria-label", ["省", "市", "区"][level]);
      s.dataset.level = level;
      box.appendChild(s);
      return s;
    });
    input.type = "hidden";
    input.parentNode.insertBefore(box, input.nextSibling);
    var chosen = (input.value || "").split("/");

    function fill(level) {
      var path = chosen.slice(0, level).join("/");
      var s = selects[level];
      if (level > 0 && !chosen[level - 1]) { s.innerHTML = ""; s.hidden = true; fill2(level + 1); return; }
      fetch("/regions?path=" + encodeURIComponent(path), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (names) {
          s.innerHTML = "";
          s.hidden = names.length === 0;
          var blank = document.createElement("option");
          blank.value = ""; blank.textContent = "—";
          s.appendChild(blank);
          names.forEach(function (n) {
            var o = document.createElement("option");
            o.value = n; o.textContent = n;
            if (n === chosen[level]) o.selected = true;
            s.appendChild(o);
          });
          fill2(level + 1);
        });
    }
    function fill2(level) { if (level < 3) fill(level); }
    selects.forEach(function (s, level) {
      s.addEventListener("change", function () {
        chosen = chosen.slice(0, level).concat(s.value ? [s.value] : []);
        input.value = chosen.filter(Boolean).join("/");
        input.dispatchEvent(new Event("change", {bubbles: true}));
        fill2(level + 1);
      });
    });
    fill(0);
  }

  document.querySelectorAll("form[data-state]").forEach(watch);
  document.querySelectorAll("input[data-region]").forEach(region);
})();
