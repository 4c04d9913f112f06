/* The journey builder: the steps as an ordered tree of small forms (a branch's Yes and No paths indented under
   it), written on every change as JSON (the spec of journeys/steps.py) into the hidden "steps" field the server
   checks. Its data comes from the json_script block #journey-builder-config; no libraries, no inline script or
   style (CSP). The trigger's value field is relabelled by the trigger kind. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "hidden") { node.hidden = !!attrs[k]; }
      else if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  var DEFAULTS = {
    send: function () { return { kind: "send", body: "", link_url: "", media: [], purpose: "marketing" }; },
    wait: function () { return { kind: "wait", days: 1, hours: 0, minutes: 0 }; },
    branch: function () { return { kind: "branch", condition: { type: "clicked" }, yes: [], no: [] }; },
    tag: function () { return { kind: "tag", add: [], remove: [] }; },
    field: function () { return { kind: "field", name: "", value: "" }; },
    webhook: function () { return { kind: "webhook", label: "" }; },
    exit: function () { return { kind: "exit" }; }
  };

  /* A step as the builder holds it: a wait's seconds (from a saved version) as days, hours and minutes. */
  function normalize(step) {
    if (!step || typeof step !== "object") { return DEFAULTS.exit(); }
    var s = JSON.parse(JSON.stringify(step));
    delete s.id;
    if (s.kind === "wait" && !s.until && typeof s.seconds === "number") {
      var left = s.seconds;
      s.days = Math.floor(left / 86400); left -= s.days * 86400;
      s.hours = Math.floor(left / 3600); left -= s.hours * 3600;
      s.minutes = Math.floor(left / 60);
      delete s.seconds;
    }
    if (s.kind === "branch") {
      s.condition = s.condition || { type: "clicked" };
      s.yes = (s.yes || []).map(normalize);
      s.no = (s.no || []).map(normalize);
    }
    if (s.kind === "send") { s.media = s.media || []; s.purpose = s.purpose || "marketing"; }
    if (s.kind === "tag") { s.add = s.add || []; s.remove = s.remove || []; }
    return s;
  }

  function tagList(text) {
    return String(text || "").split(",").map(function (t) { return t.trim(); }).filter(Boolean);
  }

  function toInt(value) {
    var n = parseInt(value, 10);
    return isNaN(n) || n < 0 ? 0 : n;
  }

  ready(function () {
    var configNode = document.getElementById("journey-builder-config");
    var root = document.getElementById("journey-builder");
    var form = document.getElementById("journey-form");
    if (!configNode || !root || !form) { return; }
    var config = JSON.parse(configNode.textContent);
    var hidden = form.querySelector("input[name=steps]");
    var steps = (config.steps || []).map(normalize);
    var error = config.error;
    var kindLabels = {};
    config.kinds.forEach(function (k) { kindLabels[k[0]] = k[1]; });
    var uid = 0;

    function save() { hidden.value = JSON.stringify(steps); }

    /* --- the fields of one step ------------------------------------------------------------------------- */

    function fieldRow(label, input, help, name) {
      var id = "jb-f" + (++uid);
      input.id = id;
      if (name) { input.setAttribute("data-field", name); }
      return el("div", { "class": "jb-field" + (name ? " jb-field-" + name : "") }, [
        el("label", { "for": id, text: label }), input, help ? el("div", { "class": "help", text: help }) : null
      ]);
    }

    function textInput(step, key, attrs) {
      var input = el("input", Object.assign({ type: "text" }, attrs || {}));
      input.value = step[key] === undefined || step[key] === null ? "" : String(step[key]);
      input.addEventListener("input", function () { step[key] = input.value; save(); });
      return input;
    }

    function numberInput(step, key) {
      var input = el("input", { type: "number", min: "0", step: "1", "class": "jb-number" });
      input.value = String(step[key] || 0);
      input.addEventListener("input", function () { step[key] = toInt(input.value); save(); });
      return input;
    }

    function select(options, value, onchange) {
      var node = el("select");
      options.forEach(function (o) {
        var opt = el("option", { value: o[0], text: o[1] });
        if (o[0] === value) { opt.selected = true; }
        node.appendChild(opt);
      });
      node.addEventListener("change", function () { onchange(node.value); });
      return node;
    }

    /* "Start from a template": picking one fills what the step leaves empty (body, link, media) here, and the
       step names it, so the server fills by the same rule (campaigns.msgtemplates) when it saves. */
    function templateRow(step, rerender) {
      var options = [["", "—"]].concat(config.templates.map(function (t) { return [String(t.id), t.name]; }));
      var current = step.template === undefined || step.template === null ? "" : String(step.template);
      return fieldRow("Start from a template", select(options, current, function (v) {
        var picked = config.templates.filter(function (t) { return String(t.id) === v; })[0];
        if (!picked) { delete step.template; save(); rerender(); return; }
        step.template = picked.id;
        if (!step.body) { step.body = picked.body; }
        if (!step.link_url) { step.link_url = picked.link_url; }
        if (!step.media.length) { step.media = picked.media.slice(); }
        save(); rerender();
      }), "A saved message (Campaigns → Message templates): it fills the message, link and media left empty.",
      "template");
    }

    function sendFields(step, rerender) {
      var body = el("textarea", { rows: "4", cols: "60" });
      body.value = step.body || "";
      body.addEventListener("input", function () { step.body = body.value; save(); });
      var out = [
        config.templates.length ? templateRow(step, rerender) : null,
        fieldRow("Message", body, config.merge_hint, "body"),
        fieldRow("Link URL", textInput(step, "link_url", { size: "60", placeholder: "https://" }),
          "Where {{link}} points (shortened and tracked per contact).", "link_url"),
        fieldRow("Purpose", select(config.purposes, step.purpose, function (v) { step.purpose = v; save(); }),
          "Marketing goes to contacts who granted consent; transactional as the compliance settings say.", "purpose")
      ];
      if (config.media.length) {
        var picker = el("div", { "class": "jb-media", "data-field": "media" });
        config.media.forEach(function (m) {
          var box = el("input", { type: "checkbox", value: String(m.id) });
          box.checked = step.media.indexOf(m.id) >= 0;
          box.addEventListener("change", function () {
            step.media = step.media.filter(function (id) { return id !== m.id; });
            if (box.checked) { step.media.push(m.id); }
            save();
          });
          picker.appendChild(el("label", { "class": "jb-media-item" }, [
            box, m.thumb ? el("img", { src: m.thumb, alt: "", "class": "jb-thumb" }) : null,
            el("span", { text: m.name })
          ]));
        });
        out.push(el("div", { "class": "jb-field jb-field-media" }, [
          el("span", { "class": "jb-label", text: "Media (MMS)" }), picker
        ]));
      }
      return out;
    }

    function waitFields(step, rerender) {
      var mode = step.until ? "until" : "for";
      var modeSelect = select([["for", "For a while"], ["until", "Until a time of day"]], mode, function (v) {
        if (v === "until") { step.until = step.until || "10:00"; delete step.days; delete step.hours; delete step.minutes; }
        else { delete step.until; step.days = 1; step.hours = 0; step.minutes = 0; }
        save(); rerender();
      });
      var out = [fieldRow("Wait", modeSelect, null, "mode")];
      if (mode === "until") {
        var time = el("input", { type: "time" });
        time.value = step.until;
        time.addEventListener("input", function () { step.until = time.value; save(); });
        out.push(fieldRow("Until", time, "The next time it is this time where the contact lives (24 h).", "until"));
      } else {
        out.push(el("div", { "class": "jb-field jb-duration" }, [
          fieldRow("Days", numberInput(step, "days"), null, "days"),
          fieldRow("Hours", numberInput(step, "hours"), null, "hours"),
          fieldRow("Minutes", numberInput(step, "minutes"), null, "minutes")
        ]));
      }
      return out;
    }

    function branchFields(step, rerender) {
      var cond = step.condition;
      var out = [fieldRow("If the contact", select(config.conditions, cond.type, function (v) {
        step.condition = { type: v };
        if (v === "tag") { step.condition.tag = ""; }
        if (v === "field") { step.condition.field = ""; step.condition.value = ""; }
        save(); rerender();
      }), null, "condition")];
      if (cond.type === "tag") { out.push(fieldRow("Tag", textInput(cond, "tag"), null, "condition.tag")); }
      if (cond.type === "field") {
        out.push(fieldRow("Field", textInput(cond, "field"), "first_name, email or a custom field", "condition.field"));
        out.push(fieldRow("Equals", textInput(cond, "value"), null, "condition.value"));
      }
      return out;
    }

    function tagFields(step) {
      function tags(key, label, help) {
        var input = el("input", { type: "text", size: "40" });
        input.value = (step[key] || []).join(", ");
        input.addEventListener("input", function () { step[key] = tagList(input.value); save(); });
        return fieldRow(label, input, help, key);
      }
      return [tags("add", "Add tags", "Comma-separated, e.g. vip, welcomed"), tags("remove", "Remove tags", null)];
    }

    function fieldFields(step) {
      return [
        fieldRow("Field", textInput(step, "name"), "first_name, last_name, email or a custom field (stage)", "name"),
        fieldRow("Value", textInput(step, "value"), null, "value")
      ];
    }

    function webhookFields(step) {
      return [fieldRow("Label", textInput(step, "label", { size: "40" }),
        "Sent as journey.webhook to your endpoints subscribed to it, with the contact and the event's properties.",
        "label")];
    }

    /* --- the tree ---------------------------------------------------------------------------------------- */

    function button(text, cls, onclick, title) {
      var b = el("button", { type: "button", "class": "jb-btn " + cls, text: text, title: title || text });
      b.addEventListener("click", onclick);
      return b;
    }

    function renderList(list, path) {
      var ol = el("ol", { "class": "jb-list", "data-path": path });
      list.forEach(function (step, i) { ol.appendChild(renderStep(list, i, path + "[" + i + "]")); });
      ol.appendChild(el("li", { "class": "jb-add" }, [addControl(list, path)]));
      return ol;
    }

    function addControl(list, path) {
      var kinds = config.kinds.map(function (k) { return [k[0], k[1]]; });
      var pick = select(kinds, "send", function () {});
      pick.setAttribute("aria-label", "Kind of step to add");
      pick.className = "jb-add-kind";
      return el("span", { "class": "jb-add-row" }, [
        pick,
        button("Add step", "jb-add-btn", function () {
          list.push(DEFAULTS[pick.value]());
          error = null; save(); render();
          var added = root.querySelector('[data-path="' + path + "[" + (list.length - 1) + ']"]');
          var first = added && added.querySelector("textarea, input, select");
          if (first) { first.focus(); }
        }, "Add a step at the end of this path")
      ]);
    }

    function renderStep(list, i, path) {
      var step = list[i];
      var li = el("li", { "class": "jb-step jb-kind-" + step.kind, "data-path": path });
      var rerender = function () { render(); };
      var head = el("div", { "class": "jb-head" }, [
        el("span", { "class": "jb-num", text: String(i + 1) }),
        el("strong", { "class": "jb-kind", text: kindLabels[step.kind] || step.kind }),
        el("span", { "class": "jb-tools" }, [
          button("↑", "jb-up", function () { move(list, i, -1); }, "Move up"),
          button("↓", "jb-down", function () { move(list, i, 1); }, "Move down"),
          button("Remove", "jb-remove", function () { list.splice(i, 1); error = null; save(); render(); }, "Remove this step")
        ])
      ]);
      li.appendChild(head);
      var body = el("div", { "class": "jb-body" });
      var fields = {
        send: sendFields, wait: waitFields, branch: branchFields, tag: tagFields, field: fieldFields,
        webhook: webhookFields, exit: function () { return [el("p", { "class": "help", text: "The run ends here." })]; }
      }[step.kind];
      (fields ? fields(step, rerender) : []).forEach(function (f) { if (f) { body.appendChild(f); } });
      li.appendChild(body);
      if (step.kind === "branch") {
        ["yes", "no"].forEach(function (key) {
          li.appendChild(el("div", { "class": "jb-path jb-" + key }, [
            el("span", { "class": "jb-path-label", text: key === "yes" ? "Yes →" : "No →" }),
            renderList(step[key], path + "." + key)
          ]));
        });
      }
      return li;
    }

    function move(list, i, by) {
      var j = i + by;
      if (j < 0 || j >= list.length) { return; }
      var item = list.splice(i, 1)[0];
      list.splice(j, 0, item);
      error = null; save(); render();
    }

    function showError() {
      if (!error || !error.path) { return; }
      var m = /^(steps(?:\[\d+\](?:\.(?:yes|no)\[\d+\])*)?)(?:\.(.+))?$/.exec(error.path);
      if (!m || m[1] === "steps") { return; } // a whole-list error: shown above the tree by the server
      var li = root.querySelector('li.jb-step[data-path="' + m[1] + '"]');
      if (!li) { return; }
      li.classList.add("jb-has-error");
      var note = el("p", { "class": "errornote jb-error", role: "alert",
        text: (m[2] ? m[2] + ": " : "") + error.message });
      li.insertBefore(note, li.querySelector(".jb-body"));
      var input = m[2] && li.querySelector(':scope > .jb-body [data-field="' + m[2] + '"]');
      if (input) { input.classList.add("jb-invalid"); }
    }

    function render() {
      root.textContent = "";
      root.appendChild(renderList(steps, "steps"));
      showError();
    }

    /* --- the trigger's value, labelled by its kind --------------------------------------------------------- */

    function trigger() {
      var kind = form.querySelector("[name=trigger_kind]");
      var valueRow = form.querySelector('[data-row="trigger_value"]');
      var timeRow = form.querySelector('[data-row="trigger_time"]');
      var daysRow = form.querySelector('[data-row="reentry_days"]');
      var reentry = form.querySelector("[name=reentry]");
      function update() {
        var label = config.trigger_labels[kind.value];
        if (valueRow) {
          valueRow.hidden = label === "";
          var lab = valueRow.querySelector("label");
          if (lab && label) { lab.textContent = label + ":"; }
        }
        if (timeRow) { timeRow.hidden = kind.value !== "date_field"; }
        if (daysRow && reentry) { daysRow.hidden = reentry.value !== "after_days"; }
      }
      if (kind) { kind.addEventListener("change", update); }
      if (reentry) { reentry.addEventListener("change", update); }
      if (kind) { update(); }
    }

    var staticTree = document.getElementById("jb-static");
    if (staticTree) { staticTree.hidden = true; }
    root.hidden = false;
    save();
    render();
    trigger();
    form.addEventListener("submit", save);
    var focus = root.querySelector(".jb-has-error");
    if (focus) { focus.scrollIntoView({ block: "center" }); }
  });
})();
