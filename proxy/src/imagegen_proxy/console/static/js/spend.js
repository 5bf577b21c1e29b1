// Spend (master key) or Usage (a virtual key's own): totals and charts over a range, the spend log, CSV export.

import { api, request } from "./api.js";
import { h, replace, uid, usd, count, duration, dateTime, utcDay, loading, empty, failure, budgetBar } from "./dom.js";
import { barList, dayChart, fillDays } from "./chart.js";

const PAGE_SIZE = 25;
const PRESETS = [[7, "7 days"], [30, "30 days"], [90, "90 days"]];

export async function spendView(root, session) {
  const title = h("h1", {}, session.role === "key" ? "Usage" : "Spend");
  if (!session.features.keys) {
    replace(root, title, empty(
      "Spend is recorded only on a proxy with virtual keys.",
      "Set general_settings.master_key in the proxy's config: it turns on virtual keys and the spend log.",
    ));
    return;
  }
  const page = new SpendPage(root, title, session);
  page.build();
  await page.refresh();
}

class SpendPage {
  constructor(root, title, session) {
    this.root = root;
    this.title = title;
    this.admin = session.role !== "key";
    this.spendLogs = session.features.spend_logs;
    this.keyNames = new Map();
    this.page = 1;
  }

  build() {
    this.start = h("input", { type: "date", id: uid("start"), value: utcDay(-29), required: true });
    this.end = h("input", { type: "date", id: uid("end"), value: utcDay(), required: true });
    const range = h(
      "form", { class: "card range", method: "post", novalidate: true, "aria-label": "Date range",
        on: { submit: (event) => { event.preventDefault(); this.page = 1; this.refresh(); } } },
      h("div", { class: "field" }, h("label", { for: this.start.id }, "From (UTC)"), this.start),
      h("div", { class: "field" }, h("label", { for: this.end.id }, "To (UTC)"), this.end),
      h("button", { type: "submit", class: "primary" }, "Show"),
      h("div", { class: "presets", role: "group", "aria-label": "Quick ranges" },
        PRESETS.map(([days, label]) => h("button", { type: "button", on: { click: () => this.preset(days) } }, `Last ${label}`))),
    );
    this.keyCard = h("div", {});
    this.summary = h("div", { class: "summary" });
    this.logs = h("section", { "aria-labelledby": "log-title" });
    replace(this.root, this.title, this.keyCard, range, this.summary, this.logs);
  }

  preset(days) {
    this.start.value = utcDay(1 - days);
    this.end.value = utcDay();
    this.page = 1;
    this.refresh();
  }

  range() {
    return { start_date: this.start.value, end_date: this.end.value };
  }

  async refresh() {
    if (!this.start.value || !this.end.value || this.start.value > this.end.value) {
      replace(this.summary, failure(new Error("Pick a start date on or before the end date.")));
      return;
    }
    replace(this.summary, loading("Adding up spend…"));
    const work = [this.showSummary()];
    if (!this.admin) work.push(this.showKey());
    await Promise.all(work);
    await this.showLogs();
  }

  async showKey() {
    try {
      const { info } = await api("/key/info");
      replace(this.keyCard, h(
        "dl", { class: "facts wide card" },
        h("dt", {}, "This key"), h("dd", {}, info.key_alias ? `${info.key_alias} (${info.key_name})` : info.key_name),
        h("dt", {}, "Spend / budget"), h("dd", {}, budgetBar(info.spend, info.max_budget)),
        h("dt", {}, "Models"), h("dd", {}, info.models.length && !info.models.includes("all-proxy-models") ? info.models.join(", ") : "all models"),
        h("dt", {}, "RPM limit"), h("dd", {}, info.rpm_limit ?? "none"),
        h("dt", {}, "Expires"), h("dd", {}, info.expires ? dateTime(info.expires) : "never"),
      ));
    } catch (error) {
      replace(this.keyCard, failure(error));
    }
  }

  async showSummary() {
    let summary;
    try {
      summary = await api("/spend/summary", { query: this.range() });
    } catch (error) {
      replace(this.summary, failure(error, "Check the dates, then try again."));
      return;
    }
    this.summaryData = summary;
    for (const row of summary.by_key) this.keyNames.set(row.api_key, keyName(row));
    const { total } = summary;
    const stats = h("div", { class: "stats" },
      [["Spend", usd(total.spend)], ["Requests", count(total.requests)], ["Images", count(total.images)], ["Failed requests", count(total.errors)]]
        .map(([label, value]) => h("div", { class: "stat card" }, h("span", { class: "stat-label" }, label), h("span", { class: "stat-value" }, value))));
    if (!this.spendLogs) {
      replace(this.summary, stats, empty("Spend logs are off on this proxy (general_settings.disable_spend_logs).",
        "Keys still count their spend, but there is no per-request record to chart."));
      return;
    }
    if (!total.requests) {
      replace(this.summary, stats, empty("No requests in this range.", "Pick a wider range, or generate something in the Playground."));
      return;
    }
    const breakdowns = [
      this.admin && ["Per key", summary.by_key, (row) => keyName(row)],
      ["Per model group", summary.by_model_group, (row) => row.model_group],
      ["Per provider", summary.by_provider, (row) => row.provider ?? "none (failed before a provider)"],
    ].filter(Boolean);
    replace(
      this.summary, stats,
      h("section", { class: "card", "aria-labelledby": "per-day-title" },
        h("h2", { id: "per-day-title" }, "Per day"),
        dayChart(fillDays(summary.by_day, summary.start_date, summary.end_date), `Spend per day from ${summary.start_date} to ${summary.end_date}`)),
      h("div", { class: "breakdowns" }, breakdowns.map(([heading, rows, label]) => {
        const id = uid("breakdown");
        return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, heading), barList(rows, label, heading));
      })),
    );
  }

  async showLogs() {
    if (!this.spendLogs) {
      replace(this.logs);
      return;
    }
    const summary = this.summaryData;
    this.keyFilter = this.admin ? h("select", { id: uid("log-key") },
      h("option", { value: "" }, "every key"),
      (summary?.by_key ?? []).filter((row) => row.api_key).map((row) => h("option", { value: row.api_key }, keyName(row)))) : null;
    this.modelFilter = h("select", { id: uid("log-model") },
      h("option", { value: "" }, "every model"),
      (summary?.by_model_group ?? []).map((row) => h("option", { value: row.model_group }, row.model_group)));
    this.statusFilter = h("select", { id: uid("log-status") },
      [["", "any status"], ["success", "succeeded"], ["error", "failed"]].map(([value, label]) => h("option", { value }, label)));
    const filters = h(
      "form", { class: "filters", method: "post", novalidate: true, "aria-label": "Spend log filters",
        on: { submit: (event) => { event.preventDefault(); this.page = 1; this.showLogPage(); } } },
      this.keyFilter && h("div", { class: "field" }, h("label", { for: this.keyFilter.id }, "Key"), this.keyFilter),
      h("div", { class: "field" }, h("label", { for: this.modelFilter.id }, "Model"), this.modelFilter),
      h("div", { class: "field" }, h("label", { for: this.statusFilter.id }, "Status"), this.statusFilter),
      h("button", { type: "submit" }, "Filter"),
      h("button", { type: "button", on: { click: () => this.export() } }, "Export CSV"),
    );
    this.exportStatus = h("p", { class: "hint", role: "status" });
    this.logArea = h("div", {});
    replace(this.logs, h("h2", { id: "log-title" }, "Spend log"), filters, this.exportStatus, this.logArea);
    await this.showLogPage();
  }

  filters() {
    return {
      ...this.range(),
      api_key: this.keyFilter?.value,
      model: this.modelFilter.value,
      status: this.statusFilter.value,
    };
  }

  async showLogPage() {
    replace(this.logArea, loading("Loading the spend log…"));
    let page;
    try {
      page = await api("/spend/logs/ui", { query: { ...this.filters(), page: this.page, page_size: PAGE_SIZE } });
    } catch (error) {
      replace(this.logArea, failure(error, "Change the filters and try again."));
      return;
    }
    if (!page.data.length) {
      replace(this.logArea, empty("No request matches these filters.", "Widen the dates or clear a filter."));
      return;
    }
    const go = (number) => { this.page = number; this.showLogPage(); };
    replace(
      this.logArea,
      logTable(page.data, { showKey: this.admin, keyNames: this.keyNames }),
      h("nav", { class: "pager", "aria-label": "Pages of the spend log" },
        h("button", { type: "button", disabled: page.page <= 1, on: { click: () => go(page.page - 1) } }, "Previous"),
        h("span", {}, `Page ${page.page} of ${page.total_pages} · ${count(page.total)} requests`),
        h("button", { type: "button", disabled: page.page >= page.total_pages, on: { click: () => go(page.page + 1) } }, "Next")),
    );
  }

  async export() {
    this.exportStatus.textContent = "Preparing the CSV…";
    try {
      const response = await request("/spend/logs/export", { query: this.filters() });
      const blob = await response.blob();
      const address = URL.createObjectURL(blob);
      const link = h("a", { href: address, download: `imagegen-spend-${this.start.value}-to-${this.end.value}.csv`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(address), 10000);
      this.exportStatus.textContent = "The CSV was downloaded.";
    } catch (error) {
      this.exportStatus.textContent = `The export failed: ${error.message}`;
    }
  }
}

function keyName(row) {
  if (!row.api_key) return "master key";
  if (row.key_alias) return row.key_alias;
  return row.key_name || `deleted key ${row.api_key.slice(0, 8)}…`;
}

/** The spend log rows as a table. */
export function logTable(rows, { showKey = true, keyNames = new Map() } = {}) {
  const columns = ["Time", showKey && "Key", "Model", "Deployment", "Provider", "Images", "Size", "Quality", "Cost", "Latency", "Status"].filter(Boolean);
  return h(
    "div", { class: "table-scroll" },
    h("table", { class: "data log" },
      h("caption", { class: "visually-hidden" }, "Spend log, newest first"),
      h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows.map((row) => h(
        "tr", {},
        h("td", {}, dateTime(row.startTime)),
        showKey && h("td", {}, keyNames.get(row.api_key) ?? (row.api_key ? `${row.api_key.slice(0, 8)}…` : "master key")),
        h("td", {}, row.model_group),
        h("td", {}, row.model ?? "—"),
        h("td", {}, row.provider ?? "—"),
        h("td", {}, row.images),
        h("td", {}, row.size ?? "—"),
        h("td", {}, row.quality ?? "—"),
        h("td", {}, usd(row.spend)),
        h("td", {}, duration(row.latency_ms)),
        h("td", {}, h("span", { class: `badge ${row.status < 400 ? "good" : "bad"}` }, row.status)),
      )))),
  );
}
