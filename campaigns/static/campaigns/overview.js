/* The tenant's analytics overview (admin/analytics/overview/): totals of the last N days and the recent
   campaigns compared, from GET /api/v1/stats/overview/?days=N (session cookie). */
(function () {
  "use strict";

  const A = window.SCAnalytics;
  const root = document.getElementById("analytics-overview");
  if (!root || !A) return;
  const cfg = A.config("overview-config");
  const $ = (selector) => root.querySelector(selector);
  let refreshes = 0;

  function setKpi(name, value, text, sub) {
    const tile = root.querySelector(`[data-kpi="${name}"]`);
    tile.dataset.value = String(value);
    tile.querySelector(".an-kpi-value").textContent = text;
    if (sub !== undefined) tile.querySelector(".an-kpi-sub").textContent = sub;
  }

  function dashboardUrl(id) {
    return cfg.urls.dashboard.replace(/\/0\/dashboard\/$/, `/${id}/dashboard/`);
  }

  function started(row) {
    const when = row.started_at || row.send_at || row.created_at;
    return when ? new Date(when).toLocaleDateString(undefined, { month: "short", day: "numeric", year: "numeric" }) : "—";
  }

  function render(data) {
    const t = data.totals || {};
    $('[data-field="period"]').textContent = `Last ${data.days} days · since ${new Date(data.since).toLocaleDateString()}`;
    setKpi("campaigns", t.campaigns, A.num(t.campaigns), "started in the period");
    setKpi("recipients", t.recipients, A.num(t.recipients), `${A.num(A.handedOver(t))} sent`);
    setKpi("delivered", t.delivered, A.num(t.delivered), `${A.num((t.failed || 0) + (t.undelivered || 0))} failed or undelivered`);
    setKpi("unique_clicks", t.unique_clicks, A.num(t.unique_clicks), `${A.num(t.clicks)} clicks`);
    setKpi("delivery_rate", t.delivery_rate, A.pct(t.delivery_rate), "delivered of sent");
    setKpi("click_rate", t.click_rate, A.pct(t.click_rate), `clickers of ${A.num(t.reached)} reached`);
    setKpi("opt_out_rate", t.opt_out_rate, A.pct(t.opt_out_rate), `${A.num(t.opt_outs)} opted out`);
    // Only RCS and WhatsApp report reads: no rate at all (not 0%) when nothing went out on them.
    setKpi(
      "read_rate",
      t.read_rate === null || t.read_rate === undefined ? "" : t.read_rate,
      A.pct(t.read_rate),
      t.read_rate === null || t.read_rate === undefined ? "only RCS and WhatsApp report reads" : `${A.num(t.read)} read (RCS, WhatsApp)`
    );

    const rows = data.campaigns || [];
    const body = root.querySelector('[data-table="campaigns"] tbody');
    body.replaceChildren();
    if (!rows.length) {
      const tr = A.el("tr");
      tr.append(A.el("td", { colspan: "11", class: "an-empty" }, "No campaigns in this period."));
      body.append(tr);
    }
    // Each rate's bar is relative to the best campaign in the table (the column reads at a glance).
    const best = Object.fromEntries(
      ["delivery_rate", "click_rate", "opt_out_rate"].map((key) => [key, Math.max(0, ...rows.map((r) => r[key] || 0))]),
    );
    for (const row of rows) {
      const tr = A.el("tr", { "data-campaign": String(row.id) });
      const name = A.el("td");
      name.append(A.el("a", { href: dashboardUrl(row.id) }, row.name));
      const status = A.el("td");
      status.append(A.el("span", { class: `an-status an-status-${row.status}` }, row.status));
      const rate = (value, key, color) => {
        const td = A.el("td", { class: "an-n" }, A.pct(value));
        const bar = A.el("span", { class: "an-rate-bar" });
        bar.style.width = `${Math.max(Math.round(((value || 0) / (best[key] || 1)) * 48), value ? 2 : 0)}px`;
        bar.style.background = color;
        td.append(bar);
        return td;
      };
      tr.append(
        name,
        status,
        A.el("td", {}, started(row)),
        A.el("td", { class: "an-n" }, A.num(row.recipients)),
        A.el("td", { class: "an-n" }, A.num(A.handedOver(row))),
        A.el("td", { class: "an-n" }, A.num(row.delivered)),
        rate(row.delivery_rate, "delivery_rate", A.colors.delivered),
        A.el("td", { class: "an-n" }, A.num(row.unique_clicks)),
        rate(row.click_rate, "click_rate", A.colors.clicks),
        A.el("td", { class: "an-n" }, A.num(row.opt_outs)),
        rate(row.opt_out_rate, "opt_out_rate", A.colors.optOut),
      );
      body.append(tr);
    }

    const c = root.querySelector('canvas[data-chart="overview"]');
    A.toggleEmpty(c, rows.length === 0);
    if (rows.length) {
      const ordered = rows.slice().reverse(); // oldest on the left
      const short = (s) => (s.length > 22 ? `${s.slice(0, 21)}…` : s);
      A.chart(c, {
        type: "bar",
        data: {
          labels: ordered.map((r) => short(r.name)),
          datasets: [
            {
              type: "line",
              label: "Delivery rate",
              data: ordered.map((r) => r.delivery_rate * 100),
              borderColor: A.colors.delivered,
              backgroundColor: A.colors.delivered,
              pointRadius: 5,
              borderWidth: 2,
              yAxisID: "delivery",
            },
            { label: "Click rate", data: ordered.map((r) => r.click_rate * 100), backgroundColor: A.colors.clicks, borderRadius: 3, yAxisID: "rates" },
            { label: "Opt-out rate", data: ordered.map((r) => r.opt_out_rate * 100), backgroundColor: A.colors.optOut, borderRadius: 3, yAxisID: "rates" },
          ],
        },
        options: {
          scales: {
            rates: { position: "left", beginAtZero: true, title: { display: true, text: "Click and opt-out rate" }, ticks: { callback: (value) => `${value}%` } },
            delivery: {
              position: "right",
              min: 0,
              max: 100,
              title: { display: true, text: "Delivery rate" },
              grid: { drawOnChartArea: false },
              ticks: { callback: (value) => `${value}%` },
            },
            x: { ticks: { maxRotation: 0, autoSkip: false } },
          },
          plugins: {
            legend: { position: "bottom" },
            tooltip: {
              callbacks: {
                title: (items) => ordered[items[0].dataIndex].name,
                label: (item) => `${item.dataset.label}: ${item.parsed.y.toFixed(1)}%`,
              },
            },
          },
        },
      });
    }
  }

  async function load() {
    const days = $('[data-field="days"]').value || cfg.days;
    const url = `${cfg.urls.overview}?days=${encodeURIComponent(days)}`;
    const error = $('[data-field="error"]');
    try {
      render(await A.getJSON(url));
      error.hidden = true;
    } catch (e) {
      error.hidden = Boolean(cfg.api_note);
      error.textContent = `The overview could not be loaded (${e.message}).`;
    }
    refreshes += 1;
    root.dataset.refreshes = String(refreshes);
    $('[data-field="updated"]').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  $('[data-field="days"]').addEventListener("change", load);
  load();
})();
