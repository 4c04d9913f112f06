/* A campaign's live dashboard (admin/campaigns/campaign/<id>/dashboard/).
   Reads the stats API with the session cookie: stats/, stats/timeseries/, stats/breakdown/, stats/variants/
   and the campaign itself (its status), and refreshes every few seconds while the campaign is scheduled or
   sending (or while Twilio is still being asked about unknown outcomes: dashboard/unknowns/, the admin's
   own JSON), without reloading the page. Every figure is in an element with data-kpi / data-funnel /
   data-aside / data-field, its raw value in data-value (what the browser tests read). */
(function () {
  "use strict";

  const A = window.SCAnalytics;
  const root = document.getElementById("campaign-dashboard");
  if (!root || !A) return;
  const cfg = A.config("dashboard-config");
  const urls = cfg.urls;
  const $ = (selector) => root.querySelector(selector);
  const canvas = (name) => root.querySelector(`canvas[data-chart="${name}"]`);

  let status = cfg.campaign.status;
  let refreshes = 0;
  let timer = null;
  let inFlight = false;
  let checking = (cfg.initial_unknowns || {}).checking || 0;

  // Unknown outcomes resolve after the campaign is sent: keep following them until Twilio has answered.
  const isLive = () => cfg.live_statuses.includes(status) || checking > 0;

  // --- figures ------------------------------------------------------------------------------------

  function setKpi(name, value, text, sub) {
    const tile = root.querySelector(`[data-kpi="${name}"]`);
    if (!tile) return;
    tile.dataset.value = String(value);
    tile.querySelector(".an-kpi-value").textContent = text;
    if (sub !== undefined) tile.querySelector(".an-kpi-sub").textContent = sub;
  }

  function renderStats(s) {
    const attempted = A.handedOver(s);
    const optOutRate = s.opt_out_rate; // over recipients reached (docs/analytics.md)
    setKpi("recipients", s.recipients, A.num(s.recipients), s.suppressed ? `${A.num(s.suppressed)} suppressed` : "");
    setKpi("sent", attempted, A.num(attempted), s.queued ? `${A.num(s.queued)} in flight` : "handed to the gateway");
    setKpi("delivered", s.delivered, A.num(s.delivered), `${A.num(s.failed + s.undelivered)} failed or undelivered`);
    renderRead(s);
    setKpi("clicked", s.unique_clicks, A.num(s.unique_clicks), `${A.num(s.clicks)} clicks · ${A.num(s.bot_hits)} bot hits`);
    setKpi("delivery_rate", s.delivery_rate, A.pct(s.delivery_rate), `delivered of ${A.num(attempted)} sent`);
    setKpi("click_rate", s.click_rate, A.pct(s.click_rate), `clickers of ${A.num(s.reached)} reached`);
    setKpi("opt_out_rate", optOutRate, A.pct(optOutRate), `${A.num(s.opt_outs)} opted out after`);

    const steps = [
      ["recipients", s.recipients, null],
      ["sent", attempted, s.recipients],
      ["delivered", s.delivered, attempted],
      ["clicked", s.unique_clicks, s.delivered],
    ];
    for (const [name, value, previous] of steps) {
      const row = root.querySelector(`[data-funnel="${name}"]`);
      row.dataset.value = String(value);
      row.querySelector(".an-f-num").textContent = A.num(value);
      row.querySelector(".an-f-pct").textContent = previous === null ? "" : A.pct(A.ratio(value, previous));
      const width = s.recipients ? Math.max((value / s.recipients) * 100, value ? 0.8 : 0) : 0;
      row.querySelector(".an-f-fill").style.width = `${width}%`;
    }
    const aside = {
      suppressed: s.suppressed,
      capped: s.capped || 0,
      blocked: s.blocked || 0,
      queued: s.queued,
      failed: s.failed,
      undelivered: s.undelivered,
      opt_outs: s.opt_outs,
    };
    for (const [name, value] of Object.entries(aside)) {
      const box = root.querySelector(`[data-aside="${name}"]`);
      box.dataset.value = String(value);
      box.querySelector("dd").textContent = A.num(value);
    }
    const bots = $('[data-field="bot_hits"]');
    bots.dataset.value = String(s.bot_hits);
    bots.textContent = A.num(s.bot_hits);
    const humans = $('[data-field="human_clicks"]');
    humans.dataset.value = String(s.clicks);
    humans.textContent = A.num(s.clicks);
    A.chart(canvas("bots"), {
      type: "bar",
      data: {
        labels: ["People", "Bots"],
        datasets: [
          {
            label: "Requests to the short links",
            data: [s.clicks, s.bot_hits],
            backgroundColor: [A.colors.clicks, A.colors.bots],
            borderRadius: 4,
          },
        ],
      },
      options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }

  /** Reads exist only where the channel reports them (RCS, WhatsApp): a rate over those messages, or none. */
  function renderRead(s) {
    const onReadChannels = Object.entries(s.channels || {})
      .filter(([channel]) => (s.read_channels || []).includes(channel))
      .reduce((sum, [, n]) => sum + Math.max(0, n), 0);
    const sub =
      s.read_rate === null || s.read_rate === undefined
        ? "none sent on RCS or WhatsApp"
        : `${A.pct(s.read_rate)} of ${A.num(Math.max(onReadChannels, s.read))} on RCS or WhatsApp`;
    setKpi("read", s.read, A.num(s.read), sub);
    root.querySelector('[data-kpi="read"]').dataset.rate = s.read_rate === null || s.read_rate === undefined ? "" : String(s.read_rate);
  }

  function renderUnknowns(u) {
    checking = u.checking;
    const boxes = { unknown_checking: u.checking, needs_person: u.needs_person };
    for (const [name, value] of Object.entries(boxes)) {
      const box = root.querySelector(`[data-aside="${name}"]`);
      box.dataset.value = String(value);
      box.querySelector("dd").textContent = A.num(value);
    }
    root.querySelector('[data-aside="needs_person"]').hidden = !u.needs_person;
    if (u.replica_lag_seconds !== undefined) {
      root.querySelector('[data-field="replica-lag-seconds"]').textContent = String(u.replica_lag_seconds);
    }
  }

  function renderTimeseries(ts) {
    const buckets = ts.buckets || [];
    const interval = ts.interval || "";
    $('[data-field="interval"]').textContent = interval ? `per ${interval}` : "";
    const c = canvas("timeline");
    const filled = buckets.some((b) => b.sent || b.delivered || b.failed || b.undelivered || b.clicks || b.bot_hits || b.opt_outs);
    A.toggleEmpty(c, !filled);
    if (!filled) return;
    const first = new Date(buckets[0].t);
    const last = new Date(buckets[buckets.length - 1].t);
    const spansDays = first.toDateString() !== last.toDateString();
    const line = (label, key, color, extra = {}) => ({
      label,
      data: buckets.map((b) => (typeof key === "function" ? key(b) : b[key] || 0)),
      borderColor: color,
      backgroundColor: color,
      pointRadius: buckets.length > 60 ? 0 : 2,
      borderWidth: 2,
      tension: 0.25,
      ...extra,
    });
    A.chart(c, {
      type: "line",
      data: {
        labels: buckets.map((b) => A.timeLabel(b.t, interval, spansDays)),
        datasets: [
          line("Sent", "sent", A.colors.sent),
          line("Delivered", "delivered", A.colors.delivered, { fill: { target: "origin", above: "rgba(46,159,94,0.08)" } }),
          line("Failed + undelivered", (b) => (b.failed || 0) + (b.undelivered || 0), A.colors.failed),
          line("Clicks (people)", "clicks", A.colors.clicks, { yAxisID: "clicks" }),
          line("Unique clickers", "unique_clicks", A.colors.unique, { yAxisID: "clicks", borderDash: [5, 4] }),
          line("Bot hits", "bot_hits", A.colors.bots, { yAxisID: "clicks", borderDash: [2, 3] }),
          line("Opt-outs (STOP)", "opt_outs", A.colors.optOut, { yAxisID: "clicks", stepped: "middle", tension: 0 }),
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        // Messages on the left, people's answers (clicks, opt-outs) on the right: a campaign sends far more
        // than it gets clicked.
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: `Messages per ${interval}` } },
          clicks: {
            position: "right",
            beginAtZero: true,
            ticks: { precision: 0 },
            grid: { drawOnChartArea: false },
            title: { display: true, text: `Clicks and opt-outs per ${interval}` },
          },
          x: { ticks: { maxRotation: 0, autoSkipPadding: 16 } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  const label = (row, dimension) => {
    if (row.value === "other") return "Other";
    if (row.value === "" || row.value === null || row.value === undefined) return "unknown";
    if (dimension === "device") return row.value.charAt(0).toUpperCase() + row.value.slice(1);
    return String(row.value);
  };

  function renderBreakdown(b) {
    for (const dimension of ["device", "os", "browser", "country"]) {
      const rows = (b[dimension] || []).filter((r) => r.clicks || r.unique_clicks);
      const c = canvas(dimension);
      A.toggleEmpty(c, rows.length === 0);
      if (!rows.length) continue;
      const labels = rows.map((r) => label(r, dimension));
      if (dimension === "device") {
        A.chart(c, {
          type: "doughnut",
          data: {
            labels,
            datasets: [{ label: "Clicks", data: rows.map((r) => r.clicks), backgroundColor: A.palette.slice(0, rows.length), borderWidth: 1 }],
          },
          options: { cutout: "58%", plugins: { legend: { position: "right" } } },
        });
        continue;
      }
      const top = rows.slice(0, 8);
      A.chart(c, {
        type: "bar",
        data: {
          labels: top.map((r) => label(r, dimension)),
          datasets: [
            { label: "Clicks", data: top.map((r) => r.clicks), backgroundColor: A.colors.clicks, borderRadius: 3 },
            { label: "Unique clickers", data: top.map((r) => r.unique_clicks), backgroundColor: A.colors.unique, borderRadius: 3 },
          ],
        },
        options: {
          indexAxis: "y",
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" } },
        },
      });
    }
    const reasons = $('[data-field="bot_reasons"]');
    reasons.replaceChildren();
    const byReason = (b.bots && b.bots.by_reason) || [];
    const entries = Array.isArray(byReason) ? byReason.map((r) => [r.reason || r.value, r.count ?? r.bot_hits]) : Object.entries(byReason);
    for (const [reason, count] of entries) reasons.append(A.el("li", {}, `${reason || "unknown"}: ${A.num(count)}`));

    const errors = b.error_codes || [];
    const table = root.querySelector('[data-table="errors"]');
    const body = table.querySelector("tbody");
    body.replaceChildren();
    for (const e of errors) {
      const tr = A.el("tr", { "data-code": String(e.code ?? "") });
      const code = A.el("td");
      code.append(A.el("code", {}, e.code === null || e.code === undefined ? "—" : String(e.code)));
      tr.append(code, A.el("td", {}, e.status || ""), A.el("td", { class: "an-n" }, A.num(e.count)), A.el("td", { class: "an-desc" }, e.description || ""));
      body.append(tr);
    }
    table.hidden = errors.length === 0;
    const c = canvas("errors");
    A.toggleEmpty(c, errors.length === 0);
    if (errors.length) {
      A.chart(c, {
        type: "bar",
        data: {
          labels: errors.map((e) => (e.code === null || e.code === undefined ? "no code" : String(e.code))),
          datasets: [
            {
              label: "Messages",
              data: errors.map((e) => e.count),
              backgroundColor: errors.map((e) => (e.status === "failed" ? A.colors.failed : A.colors.undelivered)),
              borderRadius: 3,
            },
          ],
        },
        options: {
          indexAxis: "y",
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { afterLabel: (item) => errors[item.dataIndex].description || "" } },
          },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      });
    }
  }

  function renderVariants(v) {
    const rows = v.variants || [];
    const test = v.test;
    const verdict = $('[data-field="verdict"]');
    verdict.classList.remove("an-significant", "an-pending");
    if (test) {
      verdict.textContent = test.verdict;
      verdict.classList.add(test.significant ? "an-significant" : "an-pending");
      verdict.dataset.significant = String(Boolean(test.significant));
    } else {
      verdict.textContent = rows.length > 1 ? "Not enough data yet" : "No A/B test: one message for everyone.";
      verdict.dataset.significant = "false";
    }
    const winner = test && test.significant ? test.winner : null;
    const wrap = $('[data-field="variants"]');
    wrap.replaceChildren();
    rows.forEach((row, i) => {
      const color = A.palette[i % A.palette.length];
      const card = A.el("article", { class: "an-variant", "data-variant": String(row.variant ?? "") });
      if (winner !== null && row.variant === winner) card.classList.add("an-winner");
      const h = A.el("h3");
      const letter = A.el("span", { class: "an-letter" }, row.label || "All");
      letter.style.background = color;
      h.append(letter, document.createTextNode(rows.length > 1 ? `Variant ${row.label}` : "Everyone"));
      if (card.classList.contains("an-winner")) h.append(A.el("span", { class: "an-badge" }, "Winner"));
      card.append(h);
      if (row.body) card.append(A.el("blockquote", {}, row.body));
      const table = A.el("table");
      const line = (name, value) => {
        const tr = A.el("tr");
        tr.append(A.el("td", {}, name), A.el("td", {}, value));
        table.append(tr);
      };
      line("Recipients", A.num(row.recipients));
      line("Sent", A.num(A.handedOver(row)));
      line("Delivered", A.num(row.delivered));
      line("Delivery rate", A.pct(row.delivery_rate));
      line("Clickers", A.num(row.unique_clicks));
      line("Click rate", A.pct(row.click_rate));
      line("Opted out", `${A.num(row.opt_outs)} · ${A.pct(row.opt_out_rate)}`);
      card.append(table);
      wrap.append(card);
    });
    A.chart(canvas("variants"), {
      type: "bar",
      data: {
        labels: rows.map((r) => (rows.length > 1 ? `Variant ${r.label}` : "Everyone")),
        datasets: [
          {
            label: "Click rate (clickers / delivered)",
            data: rows.map((r) => r.click_rate * 100),
            backgroundColor: rows.map((r, i) => A.palette[i % A.palette.length]),
            borderRadius: 4,
            maxBarThickness: 90,
          },
        ],
      },
      options: {
        scales: { y: { beginAtZero: true, ticks: { callback: (value) => `${value}%` } } },
        plugins: {
          legend: { display: false },
          title: { display: true, text: "Click rate by variant" },
          tooltip: { callbacks: { label: (item) => `Click rate: ${item.parsed.y.toFixed(1)}%` } },
        },
      },
    });
  }

  // --- refresh loop -------------------------------------------------------------------------------

  function setLive(live) {
    root.dataset.live = live ? "on" : "off";
    $('[data-field="live-text"]').textContent = live ? "Live" : "Final";
  }

  function renderStatus(campaign) {
    if (!campaign || !campaign.status) return;
    status = campaign.status;
    const pill = $('[data-field="status"]');
    pill.className = `an-status an-status-${status}`;
    pill.textContent = status.charAt(0).toUpperCase() + status.slice(1);
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    const jobs = {
      stats: [urls.stats, renderStats],
      timeseries: [urls.timeseries, renderTimeseries],
      breakdown: [urls.breakdown, renderBreakdown],
      variants: [urls.variants, renderVariants],
      campaign: [urls.campaign, renderStatus],
      unknowns: [urls.unknowns, renderUnknowns],
    };
    const names = Object.keys(jobs);
    const results = await Promise.allSettled(names.map((name) => A.getJSON(jobs[name][0])));
    const problems = [];
    results.forEach((result, i) => {
      const name = names[i];
      if (result.status === "fulfilled") {
        try {
          jobs[name][1](result.value);
        } catch (error) {
          problems.push(`${name}: ${error.message}`);
        }
      } else {
        problems.push(`${name}: ${result.reason.message}`);
      }
    });
    const error = $('[data-field="error"]');
    error.hidden = problems.length === 0 || Boolean(cfg.api_note);
    error.textContent = problems.length ? `Some figures could not be loaded (${problems.join("; ")}).` : "";
    refreshes += 1;
    root.dataset.refreshes = String(refreshes);
    root.dataset.updatedAt = new Date().toISOString();
    $('[data-field="updated"]').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    inFlight = false;
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    const live = isLive();
    setLive(live);
    if (live) timer = setTimeout(refresh, cfg.refresh_ms);
  }

  root.querySelector('[data-action="refresh"]').addEventListener("click", () => refresh());
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && isLive()) refresh();
  });

  renderStats(cfg.initial_stats);
  renderUnknowns(cfg.initial_unknowns);
  refresh();
})();
