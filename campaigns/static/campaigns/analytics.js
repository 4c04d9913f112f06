/* Shared helpers of the analytics pages: number formats, fetch with the session cookie, Chart.js defaults.
   Loaded after Chart.js (vendor/chartjs/chart.umd.min.js) and before dashboard.js / overview.js. */
(function () {
  "use strict";

  const numberFormat = new Intl.NumberFormat();

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  const colors = {
    recipients: "#79aec8",
    sent: "#417690",
    delivered: "#2e9f5e",
    failed: "#d64545",
    undelivered: "#d9822b",
    clicks: "#7b5cd6",
    unique: "#b79cf0",
    bots: "#9aa4ad",
    optOut: "#c2410c",
  };
  const palette = ["#417690", "#2e9f5e", "#7b5cd6", "#d9822b", "#3bb5b0", "#d64545", "#c7a93b", "#e06fa6", "#79aec8", "#9aa4ad"];

  const A = {
    colors,
    palette,
    num(n) {
      return n === null || n === undefined || Number.isNaN(n) ? "–" : numberFormat.format(n);
    },
    pct(rate, digits = 1) {
      return rate === null || rate === undefined || Number.isNaN(rate) ? "–" : `${(rate * 100).toFixed(digits)}%`;
    },
    /** "Sent" as the pages show it: handed to the gateway (CONTRACT's delivery-rate denominator). */
    handedOver(row) {
      return (row.sent || 0) + (row.delivered || 0) + (row.undelivered || 0) + (row.failed || 0);
    },
    ratio(numerator, denominator) {
      return denominator ? Math.round((numerator / denominator) * 10000) / 10000 : 0;
    },
    config(id) {
      return JSON.parse(document.getElementById(id).textContent);
    },
    async getJSON(url) {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) {
        const error = new Error(`${response.status} ${response.statusText} from ${url}`);
        error.status = response.status;
        throw error;
      }
      return response.json();
    },
    /** Draw a chart on ``canvas``, or give the one already there new data (no flicker, no new instance). */
    chart(canvas, config) {
      const existing = window.Chart.getChart(canvas);
      if (existing && existing.config.type === config.type) {
        existing.data = config.data;
        existing.options = config.options || {};
        existing.update("none");
        return existing;
      }
      if (existing) existing.destroy();
      return new window.Chart(canvas, config);
    },
    /** Show ``empty`` (the card's "no data" line) instead of the chart when there is nothing to draw. */
    toggleEmpty(canvas, isEmpty) {
      const card = canvas.closest(".an-card");
      const wrap = canvas.closest(".an-chart");
      const note = card && card.querySelector(".an-empty");
      if (wrap) wrap.hidden = isEmpty;
      if (note) note.hidden = !isEmpty;
    },
    el(tag, attrs = {}, text = null) {
      const node = document.createElement(tag);
      for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
      if (text !== null) node.textContent = text;
      return node;
    },
    timeLabel(iso, interval, spansDays) {
      const date = new Date(iso);
      const opts = { hour: "2-digit", minute: "2-digit" };
      if (spansDays) Object.assign(opts, { month: "short", day: "numeric" });
      return date.toLocaleString(undefined, opts);
    },
  };

  if (window.Chart) {
    const Chart = window.Chart;
    // Numbers that refresh every few seconds read better without animation (and screenshots are exact).
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.responsive = true;
    Chart.defaults.font.family = cssVar("--font-family-primary", "system-ui, sans-serif");
    Chart.defaults.font.size = 12;
    Chart.defaults.color = cssVar("--body-quiet-color", "#666");
    Chart.defaults.borderColor = cssVar("--hairline-color", "#e8e8e8");
    Chart.defaults.plugins.legend.labels.boxWidth = 12;
    Chart.defaults.plugins.legend.labels.boxHeight = 12;
    Chart.defaults.plugins.tooltip.mode = "index";
    Chart.defaults.plugins.tooltip.intersect = false;
  }

  window.SCAnalytics = A;
})();
