// The import page's progress bar: polls the job's JSON while it runs, reloads the page when it ends.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) return;
  var running = ["queued", "running"];
  if (running.indexOf(box.getAttribute("data-status")) < 0) return;
  var bar = box.querySelector("progress");

  function show(state) {
    Object.keys(state).forEach(function (key) {
      var el = box.querySelector('[data-k="' + key + '"]');
      if (el && key !== "status") el.textContent = state[key];
    });
    bar.max = Math.max(state.total, 1);
    bar.value = state.done;
  }

  function poll() {
    fetch(box.getAttribute("data-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) { setTimeout(poll, 3000); return; }
        show(state);
        if (running.indexOf(state.status) < 0 || state.resumable) { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
