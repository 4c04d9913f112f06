// The inbox pages update themselves: the conversation list and a conversation's thread ask their JSON every few
// seconds (admin session, same origin) and redraw. No libraries, no inline script (strict CSP).
(function () {
  "use strict";
  var EVERY = 3000;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function poll(url, show) {
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { show(data); } })
        .catch(function () { /* a missed tick: the next one tries again */ })
        .then(function () { window.setTimeout(tick, EVERY); });
    }
    window.setTimeout(tick, EVERY);
  }

  function showTotal(data, suffix) {
    var total = document.getElementById("inbox-unread-total");
    if (total && typeof data.unread_total === "number") {
      total.setAttribute("data-count", String(data.unread_total));
      total.textContent = data.unread_total + suffix;
    }
  }

  var list = document.getElementById("inbox-list");
  if (list) {
    poll(list.getAttribute("data-url"), function (data) {
      showTotal(data, " unread");
      var body = list.querySelector("tbody");
      var rows = document.createDocumentFragment();
      data.conversations.forEach(function (c) {
        var tr = el("tr", (c.unread ? "unread" : "") + (c.done ? " done" : ""));
        tr.setAttribute("data-id", String(c.id));
        var who = el("td");
        var link = el("a", null, (c.name ? c.name + " · " : "") + c.phone_number);
        link.setAttribute("href", c.url);
        who.appendChild(link);
        tr.appendChild(who);
        tr.appendChild(el("td", "preview", (c.direction === "out" ? "You: " : "") + c.preview));
        tr.appendChild(el("td", null, c.when));
        var unread = el("td");
        if (c.unread) { unread.appendChild(el("span", "badge", String(c.unread))); }
        tr.appendChild(unread);
        tr.appendChild(el("td", null, (c.assigned_to || "—") + (c.done ? " (done)" : "")));
        rows.appendChild(tr);
      });
      if (!data.conversations.length) {
        var empty = el("tr", "empty");
        var cell = el("td", null, "No conversations here.");
        cell.setAttribute("colspan", "5");
        empty.appendChild(cell);
        rows.appendChild(empty);
      }
      body.replaceChildren(rows);
    });
  }

  var thread = document.getElementById("inbox-thread");
  if (thread) {
    poll(thread.getAttribute("data-url"), function (data) {
      showTotal(data, " unread in the inbox");
      var assigned = document.getElementById("inbox-assigned");
      if (assigned) { assigned.textContent = data.assigned_to || "nobody"; }
      var state = document.getElementById("inbox-state");
      if (state) { state.textContent = data.done ? "Done" : "Open"; }
      var rules = document.getElementById("inbox-rules");
      if (rules && data.rules) {
        var items = rules.querySelectorAll("li");
        if (items.length > 1) {
          items[0].textContent = data.rules.quiet_hours;
          items[1].textContent = data.rules.frequency_cap;
        }
      }
      var bubbles = document.createDocumentFragment();
      data.messages.forEach(function (m) {
        var li = el("li", "bubble " + m.direction);
        li.setAttribute("data-id", m.id);
        li.appendChild(el("div", "text", m.body));
        var meta = el("div", "meta", (m.source ? m.source + " · " : ""));
        var time = el("time", null, m.when);
        time.setAttribute("datetime", m.at);
        meta.appendChild(time);
        if (m.direction === "out") {
          meta.appendChild(document.createTextNode(" · "));
          meta.appendChild(el("span", "status status-" + m.status, m.status_label));
          if (m.error) { meta.appendChild(el("span", "error", " (" + m.error + ")")); }
        }
        li.appendChild(meta);
        bubbles.appendChild(li);
      });
      if (!data.messages.length) { bubbles.appendChild(el("li", "empty", "No messages yet.")); }
      thread.replaceChildren(bubbles);
    });
  }
})();
