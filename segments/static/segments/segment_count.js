/* The segment editor's live count: posts the condition rows to the admin's count URL while the marketer edits
   them and shows how many contacts match now (and their consent). No libraries; no inline script (CSP). */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  ready(function () {
    var panel = document.getElementById("segment-count");
    var form = panel && panel.closest("form");
    if (!panel || !form) { return; }
    var url = panel.getAttribute("data-url");
    var count = panel.querySelector(".sc-count");
    var consent = panel.querySelector(".sc-consent");
    var errors = panel.querySelector(".sc-errors");
    var timer = null;
    var seq = 0;

    function refresh() {
      var mine = ++seq;
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (resp) { return resp.json(); })
        .then(function (data) {
          if (mine !== seq) { return; }
          if (data.errors && data.errors.length) {
            errors.textContent = data.errors.join(" ");
            errors.hidden = false;
            count.textContent = "–";
            consent.textContent = "";
            return;
          }
          errors.hidden = true;
          count.textContent = String(data.count);
          var c = data.by_consent || {};
          consent.textContent = "consent granted " + c.granted + ", unknown " + c.unknown + ", revoked " + c.revoked;
        })
        .catch(function () { if (mine === seq) { count.textContent = "?"; } });
    }

    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 400);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    refresh();
  });
})();
