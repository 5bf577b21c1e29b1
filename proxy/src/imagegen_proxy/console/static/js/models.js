// Models (master key): every model group, its deployments, what they take, their price and health.
// All of it comes from the proxy's own state and metrics: showing this page calls no provider.

import { api } from "./api.js";
import { h, replace, usd, count, percent, duration, dateTime, loading, empty, failure } from "./dom.js";

const REFRESH_SECONDS = 15;
const STATUS_TEXT = { ready: "Ready", cooling_down: "Cooling down", unconfigured: "Not configured" };

export async function modelsView(root) {
  const title = h("h1", {}, "Models");
  const refresh = h("button", { type: "button", on: { click: () => show() } }, "Refresh");
  const header = h("div", { class: "view-header" }, title, refresh);
  const body = h("div", {});
  replace(root, header, body);
  replace(body, loading("Loading models and their health…"));
  let timer = null;

  async function show() {
    let info;
    try {
      info = await api("/model/info");
    } catch (error) {
      replace(body, failure(error, "Reload the page once the proxy answers."));
      return;
    }
    if (!info.data.length) {
      replace(body, empty("This proxy serves no image model.", "Add one to model_list in its config and restart it."));
      return;
    }
    const groups = new Map();
    for (const deployment of info.data) {
      if (!groups.has(deployment.model_name)) groups.set(deployment.model_name, []);
      groups.get(deployment.model_name).push(deployment);
    }
    replace(
      body,
      h("p", { class: "muted" },
        `Health since ${dateTime(info.health_since)} (recent figures cover up to the last 5 minutes once this page has been open a minute). Updated every ${REFRESH_SECONDS} s.`),
      [...groups].map(([name, deployments]) => groupSection(name, deployments)),
    );
  }

  await show();
  timer = setInterval(() => { if (document.visibilityState === "visible") show(); }, REFRESH_SECONDS * 1000);
  return () => clearInterval(timer);
}

function groupSection(name, deployments) {
  const ready = deployments.filter((deployment) => deployment.health.status === "ready").length;
  const id = `group-${name.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
  return h(
    "section", { class: "card model-group", "aria-labelledby": id },
    h("div", { class: "view-header" },
      h("h2", { id }, name),
      h("span", { class: `badge ${ready === deployments.length ? "good" : ready ? "warn" : "bad"}` },
        `${ready} of ${deployments.length} deployment${deployments.length === 1 ? "" : "s"} ready`)),
    deployments.map((deployment) => deploymentCard(deployment)),
  );
}

function deploymentCard(deployment) {
  const { model_info: info, health } = deployment;
  const status = health.status === "cooling_down" ? `${STATUS_TEXT.cooling_down} (${Math.ceil(health.cooldown_remaining_s)} s left)` : STATUS_TEXT[health.status];
  const latency = health.latency_ms;
  return h(
    "article", { class: "deployment" },
    h("h3", {}, info.id, " ", h("span", { class: `badge ${health.status === "ready" ? "good" : health.status === "cooling_down" ? "warn" : "bad"}` }, status)),
    health.detail && h("p", { class: "state-title" }, health.detail),
    h("dl", { class: "facts wide" },
      h("dt", {}, "Model"), h("dd", {}, h("code", {}, deployment.litellm_params.model), info.verified ? "" : h("span", { class: "muted" }, " (not listed by its provider: served unchecked)")),
      h("dt", {}, "Provider"), h("dd", {}, info.provider ?? "—"),
      h("dt", {}, "Operations"), h("dd", {}, operationsText(info)),
      h("dt", {}, "Price"), h("dd", {}, priceText(info.price)),
      h("dt", {}, "Requests"), h("dd", {}, `${count(health.attempts)} attempts, ${count(health.errors)} failed (${percent(health.error_rate)}), ${health.failures_this_minute} failures this minute, ${health.in_flight} in flight`),
      h("dt", {}, "Latency"), h("dd", {}, latency ? `p50 ${duration(latency.p50)} · p90 ${duration(latency.p90)} · p99 ${duration(latency.p99)}` : "no request yet"),
      h("dt", {}, "Defaults"), h("dd", {}, defaultsText(deployment.litellm_params))),
    h("details", {}, h("summary", {}, "Parameters it takes"), paramsTable(info.params)),
  );
}

/** "generation (streams partial images); edit (up to 16 images, mask, PNG/JPEG/WEBP)…" */
function operationsText(info) {
  if (!info.operations) return info.supported_operations.join(", ");
  return Object.entries(info.operations).map(([name, operation]) => {
    const details = [
      operation.max_images && (operation.max_images === 1 ? "1 image" : `up to ${operation.max_images} images`),
      operation.mask && "mask",
      operation.square && "square",
      operation.formats && operation.formats.map((format) => format.toUpperCase()).join("/"),
      operation.streaming === "native" && "streams partial images",
    ].filter(Boolean);
    return details.length ? `${name} (${details.join(", ")})` : name;
  }).join("; ");
}

function defaultsText(params) {
  const defaults = Object.entries(params).filter(([name]) => name !== "model");
  return defaults.length ? defaults.map(([name, value]) => `${name}=${value}`).join(", ") : "none";
}

function priceText(price) {
  if (!price) return "unknown (give the deployment model_info.output_cost_per_image to price it)";
  const parts = price.per_image.map((rule) => {
    const conditions = [
      rule.quality && rule.quality.join("/"),
      rule.max_pixels && `≤ ${(rule.max_pixels / 1e6).toFixed(2)} MP`,
      rule.max_steps && `≤ ${rule.max_steps} steps`,
    ].filter(Boolean).join(", ");
    return `${usd(rule.usd)} per image${conditions ? ` (${conditions})` : ""}`;
  });
  const tokens = Object.entries(price.per_token).map(([kind, amount]) => `${kind.replace("_", " ")} ${usd(amount * 1e6)} per 1M tokens`);
  return [...tokens, ...parts].join("; ") || "unknown";
}

function paramsTable(params) {
  if (!params) return h("p", { class: "muted" }, "Not declared by its plugin: the provider checks the parameters.");
  return h(
    "table", { class: "data" },
    h("caption", { class: "visually-hidden" }, "Parameters and allowed values"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Parameter"), h("th", { scope: "col" }, "Allowed"))),
    h("tbody", {}, Object.entries(params).map(([name, allowed]) => h(
      "tr", {}, h("th", { scope: "row" }, h("code", {}, name)),
      h("td", {}, allowed === null ? "any value" : allowed.values ? allowed.values.join(", ") : `${allowed.min} to ${allowed.max}`),
    ))),
  );
}
