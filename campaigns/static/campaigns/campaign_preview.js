/* Live preview for the campaign form: posts the form to the admin's preview URL while the author types,
   shows the message for a sample recipient, its encoding and segments, the characters that force UCS-2
   (with a one-click swap for GSM look-alikes), the recipient count and the estimated cost. No libraries. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function describe(ch) {
    var code = ch.codePointAt(0).toString(16).toUpperCase();
    var shown = /\s/.test(ch) || code === "200B" || code === "FEFF" ? "␣" : ch;
    return shown + " (U+" + ("0000" + code).slice(-4) + ")";
  }

  ready(function () {
    var panel = document.getElementById("campaign-preview");
    var form = panel && panel.closest("form");
    if (!panel || !form) { return; }
    var url = panel.getAttribute("data-url");
    var body = form.querySelector("#id_body");
    var variants = form.querySelector("#id_variants");
    var timer = null;
    var seq = 0;

    function q(sel) { return panel.querySelector(sel); }

    function swap(text, table) {
      Object.keys(table).forEach(function (ch) { text = text.split(ch).join(table[ch]); });
      return text;
    }

    function replaceIn(field, table) {
      if (!field) { return; }
      field.value = swap(field.value, table);
      field.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function showVariant(v, index, many) {
      var box = el("div", { "class": "cp-variant" });
      if (many) { box.appendChild(el("h3", {}, "Variant " + v.label + " · " + v.percent + "%")); }
      var media = v.media || [];
      if (media.length) {
        // An MMS: the text with its image(s) beside it, as the phone shows them.
        var mms = el("div", { "class": "cp-mms" });
        var files = el("div", { "class": "cp-media" });
        media.forEach(function (m) {
          if ((m.content_type || "").indexOf("image/") === 0) {
            files.appendChild(el("img", { "src": m.url, "alt": m.name, "class": "cp-media-img", "data-media": m.id }));
          } else {
            files.appendChild(el("span", { "class": "cp-media-doc", "data-media": m.id }, m.name));
          }
        });
        mms.appendChild(files);
        mms.appendChild(el("div", { "class": "cp-phone" }, v.sample || "(no text)"));
        box.appendChild(mms);
        box.appendChild(el("p", { "class": "cp-meta" }, "MMS to " + v.mms_recipients + (v.mms_recipients === 1 ? " recipient" : " recipients") +
          ": one message each, no segments."));
        if (v.fallback_sample) {
          box.appendChild(el("p", { "class": "cp-meta" }, v.fallback_recipients + " cannot take MMS and get the text with their own link to the image:"));
          box.appendChild(el("div", { "class": "cp-phone cp-fallback" }, v.fallback_sample));
        } else if (v.fallback_recipients) {
          box.appendChild(el("p", { "class": "cp-meta" }, v.fallback_recipients + " cannot take MMS and are skipped."));
        }
        return box;
      }
      box.appendChild(el("div", { "class": "cp-phone" }, v.sample || "(empty)"));
      var meta = el("p", { "class": "cp-meta" });
      meta.textContent = v.encoding + " · " + v.units + (v.encoding === "GSM-7" ? " septets" : " UTF-16 units") +
        " · " + v.segments + (v.segments === 1 ? " segment" : " segments") + " for this recipient";
      if (v.segments_max && v.segments_max !== v.segments_min) {
        meta.textContent += " (" + v.segments_min + "–" + v.segments_max + " across the audience)";
      }
      box.appendChild(meta);
      if (v.worst_case_segments && v.worst_case_sample !== v.sample) {
        // Every merge field at its longest value among the recipients: the longest this message gets.
        box.appendChild(el("p", { "class": "cp-meta cp-worst" }, "Longest over the audience: " + v.worst_case_units +
          (v.worst_case_encoding === "GSM-7" ? " septets" : " UTF-16 units") + ", " + v.worst_case_encoding + ", " +
          v.worst_case_segments + (v.worst_case_segments === 1 ? " segment" : " segments")));
      }
      if (v.sample_first_contact && v.sample_first_contact !== v.sample) {
        // What a recipient the tenant never texted before gets: the tenant's opt-out line too.
        box.appendChild(el("p", { "class": "cp-meta" }, "A first contact gets:"));
        box.appendChild(el("div", { "class": "cp-phone cp-first" }, v.sample_first_contact));
        box.appendChild(el("p", { "class": "cp-meta" },
          v.segments_first_contact + (v.segments_first_contact === 1 ? " segment" : " segments") + " for a first contact"));
      }
      if (v.non_gsm && v.non_gsm.length) {
        var warn = el("p", { "class": "cp-warn" });
        warn.textContent = "These characters make every message UCS-2 (70 characters a segment): " +
          v.non_gsm.map(describe).join(", ") + ". ";
        var fixable = Object.keys(v.replacements || {});
        if (fixable.length) {
          var fix = el("button", { "type": "button", "class": "button cp-fix" },
            "Replace with GSM equivalents (" + v.replaced_segments + (v.replaced_segments === 1 ? " segment)" : " segments)"));
          fix.addEventListener("click", function () {
            if (many && variants) {
              // Replace inside the variant's body, not in the JSON text (a " would break it).
              try {
                var list = JSON.parse(variants.value);
                list[index].body = swap(list[index].body, v.replacements);
                variants.value = JSON.stringify(list, null, 1);
                variants.dispatchEvent(new Event("input", { bubbles: true }));
              } catch (e) { /* the JSON is being edited: leave it */ }
            } else {
              replaceIn(body, v.replacements);
            }
          });
          warn.appendChild(fix);
        }
        box.appendChild(warn);
      }
      return box;
    }

    function show(data) {
      var errors = q(".cp-errors");
      var messages = [];
      Object.keys(data.errors || {}).forEach(function (name) {
        (data.errors[name] || []).forEach(function (m) { messages.push((name === "__all__" ? "" : name + ": ") + m); });
      });
      errors.hidden = !messages.length;
      errors.textContent = messages.join(" ");
      if (!data.bodies) { return; }
      var list = q(".cp-variants");
      list.textContent = "";
      var many = (data.bodies || []).length > 1;
      (data.bodies || []).forEach(function (v, i) { list.appendChild(showVariant(v, i, many)); });
      var sample = data.sample_contact;
      q(".cp-status").textContent = sample
        ? "As " + ([sample.first_name, sample.last_name].join(" ").trim() || "a recipient without a name") + " will see it:"
        : "No contact matches this audience yet; shown with the fallbacks.";
      q(".cp-recipients").textContent = data.recipients;
      q(".cp-suppressed").textContent = data.suppressed;
      q(".cp-no-consent").textContent = data.no_consent;
      q(".cp-blocked").textContent = data.blocked || 0;
      q(".cp-first-contacts").textContent = data.first_contacts;
      q(".cp-segments").textContent = data.total_segments + (data.extrapolated ? " (estimated)" : "");
      q(".cp-cost").textContent = data.estimated_cost + " " + data.currency + " at " + data.price_per_segment +
        " a segment" + (data.mms ? ", " + data.price_per_mms + " an MMS" : "") +
        ((data.countries || []).some(function (c) { return !c.default; })
          ? " (" + data.countries.map(function (c) { return c.country + " " + c.price_per_segment; }).join(", ") + ")"
          : "");
      panel.querySelectorAll(".cp-mms-row").forEach(function (row) { row.hidden = !data.mms; });
      q(".cp-mms-recipients").textContent = data.mms_recipients;
      q(".cp-mms-fallback").textContent = data.mms_fallback === "link"
        ? data.fallback_recipients + " get the text with a link to the image"
        : data.skipped_recipients + " skipped";
    }

    function refresh() {
      var mine = ++seq;
      var payload = new FormData(form);
      fetch(url, { method: "POST", body: payload, credentials: "same-origin",
                   headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (mine === seq) { show(data); } })
        .catch(function () { q(".cp-status").textContent = "The preview is unavailable right now."; });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 250);
    }

    form.addEventListener("input", later);
    form.addEventListener("change", later);
    refresh();
  });
})();
