// A background job's progress bar (imports, exports): polls the job's JSON while it runs and shows its counts.
// When it ends the page reloads to show the outcome; a box that holds the job's file (`data-file`: the id of
// its download link) shows the link instead and starts the download.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
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

  function finish(state) {
    var link = document.getElementById(box.getAttribute("data-file") || "");
    if (!link || state.status !== "done") { window.location.reload(); return; }
    box.querySelectorAll("[data-while]").forEach(function (el) {
      el.hidden = el.getAttribute("data-while") !== "done";
    });
    link.click();
  }

  function poll() {
    fetch(box.getAttribute("data-progress-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) { setTimeout(poll, 3000); return; }
        show(state);
        if (running.indexOf(state.status) < 0 || state.resumable) { finish(state); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
