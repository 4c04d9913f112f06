// The campaign page's sent / total, rate and time left, refreshed while it sends; the page reloads when the
// status changes (its buttons follow the status). No libraries.
(function () {
  "use strict";
  var box = document.getElementById("campaign-live");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  var status = box.getAttribute("data-status");
  var FINAL = { sent: true, canceled: true };
  var fields = ["sending_progress", "sending_rate", "sending_time_left"];

  function show(data) {
    if (data.status !== status) {
      window.location.reload();
      return;
    }
    fields.forEach(function (name) {
      var cell = document.querySelector(".field-" + name + " .readonly");
      if (cell && typeof data[name] === "string") { cell.textContent = data[name]; }
    });
  }

  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { show(data); } })
      .catch(function () { /* a missed tick: the next one tries again */ })
      .then(function () { if (!FINAL[status]) { window.setTimeout(tick, 3000); } });
  }

  if (!FINAL[status]) { window.setTimeout(tick, 3000); }
})();
