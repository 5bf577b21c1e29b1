// Charts as plain SVG and lists, each with its numbers as text for screen readers and for reading exact values.

import { h, svg, usd, count } from "./dom.js";

/** Every day from `start` to `end` (YYYY-MM-DD, inclusive) with the rows' values, 0 where there is none. */
export function fillDays(rows, start, end) {
  const byDate = new Map(rows.map((row) => [row.date, row]));
  const days = [];
  for (let day = new Date(`${start}T00:00:00Z`); day <= new Date(`${end}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    const date = day.toISOString().slice(0, 10);
    days.push(byDate.get(date) || { date, spend: 0, requests: 0, images: 0, errors: 0 });
  }
  return days;
}

/** Spend per day as columns, and the same numbers in a table under "Show as a table". */
export function dayChart(days, caption) {
  const width = 720;
  const height = 180;
  const top = 12;
  const bottom = 24;
  const most = Math.max(...days.map((day) => day.spend), 0);
  const slot = width / Math.max(days.length, 1);
  const scale = most > 0 ? (height - top - bottom) / most : 0;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "day-chart", role: "img",
    "aria-label": `${caption}: ${days.length} days, highest ${usd(most)} a day`,
  });
  chart.append(svg("line", { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  if (most > 0) {
    chart.append(svg("text", { x: 4, y: top - 2, class: "axis-label" }, usd(most)));
  }
  days.forEach((day, index) => {
    const barHeight = Math.max(day.spend * scale, day.spend > 0 ? 1 : 0);
    const bar = svg("rect", {
      x: index * slot + slot * 0.15, width: Math.max(slot * 0.7, 1),
      y: height - bottom - barHeight, height: barHeight, class: "bar",
    }, svg("title", {}, `${day.date}: ${usd(day.spend)}, ${count(day.requests)} requests`));
    chart.append(bar);
  });
  const labelEvery = Math.max(1, Math.ceil(days.length / 6));
  days.forEach((day, index) => {
    if (index % labelEvery === 0 || index === days.length - 1) {
      const anchor = index === 0 ? "start" : index === days.length - 1 ? "end" : "middle";
      const x = anchor === "start" ? 0 : anchor === "end" ? width : index * slot + slot / 2;
      chart.append(svg("text", { x, y: height - 6, class: "axis-label", "text-anchor": anchor }, day.date.slice(5)));
    }
  });
  const table = h(
    "table", { class: "data" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, ["Day", "Spend", "Requests", "Images", "Errors"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, days.map((day) => h(
      "tr", {}, h("th", { scope: "row" }, day.date), h("td", {}, usd(day.spend)), h("td", {}, count(day.requests)),
      h("td", {}, count(day.images)), h("td", {}, count(day.errors)),
    ))),
  );
  return h("figure", { class: "chart" }, chart, h("details", {}, h("summary", {}, "Show as a table"), table));
}

/** Rows as labelled horizontal bars of their spend, biggest first. */
export function barList(rows, label, caption) {
  if (!rows.length) return h("p", { class: "muted" }, "Nothing in this range.");
  const most = Math.max(...rows.map((row) => row.spend), 0);
  return h(
    "ul", { class: "bar-list", "aria-label": caption },
    rows.map((row) => {
      const fill = h("span", { class: "fill" });
      fill.style.width = `${most > 0 ? (row.spend / most) * 100 : 0}%`; // CSSOM: allowed by the style-src policy
      return h(
        "li", {},
        h("span", { class: "bar-name" }, label(row)),
        h("span", { class: "bar-track", "aria-hidden": "true" }, fill),
        h("span", { class: "bar-value" }, usd(row.spend), h("span", { class: "muted" }, ` · ${count(row.requests)} req`)),
      );
    }),
  );
}
