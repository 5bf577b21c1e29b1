// Building the page: elements from data (never from HTML strings), formatting, and the shared states.

/** An element: h("a", {href: "#/keys", class: "x", on: {click: fn}}, "text", child, …). */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === "class") {
      element.className = value;
    } else if (name in element && typeof value !== "string") {
      element[name] = value; // properties such as `value`, `checked`, `disabled`
    } else {
      element.setAttribute(name, value === true ? "" : value);
    }
  }
  append(element, children);
  return element;
}

/** An SVG element (charts). */
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** Replace everything inside `element`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let uniqueCount = 0;
/** An id for pairing a label with its control. */
export function uid(prefix) {
  uniqueCount += 1;
  return `${prefix}-${uniqueCount}`;
}

const usdFormat = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4,
});

/** `$0.04`; small amounts keep their digits (`$0.0016`); unknown is a dash. */
export function usd(amount) {
  if (amount === null || amount === undefined || Number.isNaN(Number(amount))) return "—";
  const value = Number(amount);
  if (value > 0 && value < 0.0001) return `$${value.toPrecision(2)}`;
  return usdFormat.format(value);
}

export function count(value) {
  return new Intl.NumberFormat("en-US").format(value ?? 0);
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.01 ? 2 : 1)} %`;
}

/** `840 ms`, `12.3 s`. */
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function dateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** Today (UTC) as YYYY-MM-DD, shifted by `days`. */
export function utcDay(days = 0) {
  const date = new Date(Date.now() + days * 86400000);
  return date.toISOString().slice(0, 10);
}

export function loading(text) {
  return h("p", { class: "state loading", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), text);
}

export function empty(title, advice) {
  return h("div", { class: "state empty" }, h("p", { class: "state-title" }, title), advice && h("p", {}, advice));
}

/** An error as the API gave it, with what to do about it. */
export function failure(error, advice) {
  return h(
    "div", { class: "state failure", role: "alert" },
    h("p", { class: "state-title" }, error.message || String(error)),
    advice && h("p", {}, advice),
  );
}

/** A budget bar: spend against budget, or the spend alone when there is no budget. */
export function budgetBar(spend, budget) {
  if (budget === null || budget === undefined) {
    return h("span", { class: "budget" }, usd(spend), h("span", { class: "muted" }, " · no budget"));
  }
  const label = `${usd(spend)} of ${usd(budget)}`;
  return h(
    "span", { class: "budget" },
    h("meter", {
      min: "0", max: String(budget || 1), value: String(Math.min(spend, budget || 1)),
      low: String(budget * 0.8), high: String(budget * 0.95), optimum: "0", "aria-label": `Spend ${label}`,
    }),
    h("span", { class: "budget-text" }, label),
  );
}

/** Move focus to a view's heading, so keyboard and screen reader users land on the new content. */
export function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}
