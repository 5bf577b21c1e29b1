// The playground: pick model groups, write a prompt, set each model's parameters, compare the images side by side.

import { api, request } from "./api.js";
import { h, replace, uid, usd, duration, loading, empty, failure } from "./dom.js";

// Set by the console itself, or not about the picture.
const NOT_OFFERED = new Set(["response_format", "user", "stream", "partial_images"]);
const HISTORY_KEY = "imagegen.console.history";
const MAX_HISTORY = 30;
/** This tab's generations, newest first. Images are object URLs, alive while the page is. */
const history = restoredHistory();

export async function playgroundView(root, session) {
  const title = h("h1", {}, "Playground");
  replace(root, title, loading("Loading the models you can use…"));
  let groups;
  try {
    groups = (await api("/model_group/info")).data;
  } catch (error) {
    replace(root, title, failure(error, "Check that the proxy is running, then reload the page."));
    return;
  }
  if (!groups.some((group) => group.supported_operations.includes("generation"))) {
    replace(root, title, empty(
      "There is no model you can generate with.",
      session.role === "key"
        ? "This key may use no model group of this proxy: ask its admin to add models to the key."
        : "Add an image model to the proxy's config (model_list) and restart it.",
    ));
    return;
  }
  // Only generation so far: edits and variations will be other operations in `supported_operations`, each
  // with its own form (image and mask uploads), next to this one.
  const generating = groups.filter((group) => group.supported_operations.includes("generation"));
  const playground = new Playground(generating);
  replace(root, title, playground.element);
}

class Playground {
  constructor(groups) {
    this.groups = groups;
    this.selected = new Set([groups[0].model_group]);
    this.parameterSets = new Map(); // group name → its fieldset and how to read it (kept while selected or not)
    this.build();
  }

  build() {
    const choices = h(
      "fieldset", { class: "model-choices" },
      h("legend", {}, "Models"),
      this.groups.map((group) => {
        const id = uid("model");
        return h(
          "div", { class: "choice" },
          h("input", {
            type: "checkbox", id, value: group.model_group, checked: this.selected.has(group.model_group),
            on: { change: (event) => this.toggle(group.model_group, event.target.checked) },
          }),
          h("label", { for: id }, group.model_group, h("span", { class: "muted" }, ` ${group.providers.join(", ")}`)),
        );
      }),
    );
    this.prompt = h("textarea", {
      id: "prompt", rows: "3", required: true, placeholder: "A cute baby sea otter, watercolour",
      "aria-describedby": "prompt-hint",
      on: { keydown: (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) this.form.requestSubmit(); } },
    });
    this.parameters = h("div", { class: "parameter-sets" });
    this.status = h("p", { class: "form-error", role: "alert" });
    this.button = h("button", { type: "submit", class: "primary" }, "Generate");
    this.form = h(
      "form", { class: "card generate", method: "post", novalidate: true, on: { submit: (event) => this.submit(event) } },
      choices,
      h("label", { for: "prompt" }, "Prompt"),
      this.prompt,
      h("p", { class: "hint", id: "prompt-hint" }, "Ctrl+Enter generates. Every selected model gets the same prompt."),
      this.parameters,
      h("div", { class: "actions" }, this.button, this.status),
    );
    this.results = h("div", { class: "results", "aria-live": "polite" });
    this.historyList = h("ol", { class: "history" });
    this.element = h(
      "div", { class: "playground" },
      this.form,
      h("section", { "aria-labelledby": "results-title" }, h("h2", { id: "results-title" }, "Results"), this.results),
      h("section", { "aria-labelledby": "history-title" },
        h("h2", { id: "history-title" }, "History of this tab"), this.historyList),
    );
    this.showParameters();
    if (history.length) this.showEntry(history[0]);
    else replace(this.results, empty("Nothing generated yet.", "Pick one or more models, write a prompt and press Generate."));
    this.showHistory();
  }

  toggle(name, on) {
    if (on) this.selected.add(name);
    else this.selected.delete(name);
    this.showParameters();
  }

  chosen() {
    return this.groups.filter((group) => this.selected.has(group.model_group));
  }

  showParameters() {
    replace(this.parameters, this.chosen().map((group) => this.parameterSet(group).fieldset));
  }

  parameterSet(group) {
    let set = this.parameterSets.get(group.model_group);
    if (!set) {
      set = parameterFieldset(group);
      this.parameterSets.set(group.model_group, set);
    }
    return set;
  }

  async submit(event) {
    event.preventDefault();
    const prompt = this.prompt.value.trim();
    const groups = this.chosen();
    if (!groups.some((group) => group.supported_operations.includes("generation"))) {
      this.status.textContent = "Pick at least one model.";
      return;
    }
    if (!prompt) {
      this.status.textContent = "Write a prompt first.";
      this.prompt.focus();
      return;
    }
    this.status.textContent = "";
    this.button.disabled = true;
    // Leaving the page does not cancel: the images are made (and paid for) anyway, so they reach the history.
    const entry = { time: new Date().toISOString(), prompt, results: [] };
    const cards = groups.map((group) => resultCard({ model: group.model_group, pending: true }, prompt));
    replace(this.results, h("div", { class: "result-grid" }, cards));
    entry.results = await Promise.all(groups.map(async (group, index) => {
      const result = await generate(group, prompt, this.parameterSet(group).read());
      cards[index].replaceWith(resultCard(result, prompt));
      return result;
    }));
    this.button.disabled = false;
    remember(entry);
    this.showHistory();
  }

  showEntry(entry) {
    replace(this.results, h(
      "div", {},
      h("p", { class: "muted" }, `${new Date(entry.time).toLocaleTimeString()} — “${entry.prompt}”`),
      h("div", { class: "result-grid" }, entry.results.map((result) => resultCard(result, entry.prompt))),
    ));
  }

  showHistory() {
    if (!history.length) {
      replace(this.historyList, h("li", { class: "muted" }, "Your generations in this tab appear here."));
      return;
    }
    replace(this.historyList, history.map((entry) => {
      const cost = entry.results.reduce((sum, result) => sum + (result.cost ?? 0), 0);
      const thumbnails = entry.results.flatMap((result) => result.images.map((image) => h("img", {
        src: image.url, alt: "", class: "thumbnail", width: "48", height: "48",
      })));
      return h(
        "li", {},
        h("button", { type: "button", class: "link", on: { click: () => this.showEntry(entry) } },
          `${new Date(entry.time).toLocaleTimeString()} — ${entry.prompt.slice(0, 80)}`),
        h("span", { class: "muted" }, ` ${entry.results.map((result) => result.model).join(", ")} · ${usd(cost)}`),
        entry.restored ? h("span", { class: "muted" }, " · images are not kept after a reload") : thumbnails,
      );
    }));
  }
}

/** One model's parameter controls, from its declared capabilities; `read()` gives the values set. */
function parameterFieldset(group) {
  const readers = [];
  const declared = group.params;
  const names = declared ? Object.keys(declared).filter((name) => !NOT_OFFERED.has(name)) : ["size", "n"];
  const controls = names.map((name) => {
    const allowed = declared ? declared[name] : name === "n" ? { min: 1, max: 10 } : null;
    const id = uid(`param-${name}`);
    let control;
    let read;
    if (allowed && Array.isArray(allowed.values)) {
      control = h("select", { id },
        h("option", { value: "" }, "default"),
        allowed.values.map((value, index) => h("option", { value: String(index) }, String(value))));
      read = () => (control.value === "" ? undefined : allowed.values[Number(control.value)]);
    } else if (allowed && "min" in allowed) {
      control = h("input", {
        id, type: "number", min: String(allowed.min), max: String(allowed.max), step: "1", inputmode: "numeric",
        placeholder: "default",
      });
      read = () => (control.value === "" ? undefined : Number(control.value));
    } else {
      control = h("input", { id, type: "text", placeholder: name === "size" ? "e.g. 1024x1024" : "default", spellcheck: "false" });
      read = () => (control.value.trim() === "" ? undefined : loose(control.value.trim()));
    }
    readers.push([name, read]);
    const range = allowed && "min" in allowed ? ` (${allowed.min}–${allowed.max})` : "";
    return h("div", { class: "field" }, h("label", { for: id }, `${name.replaceAll("_", " ")}${range}`), control);
  });
  const fieldset = h(
    "fieldset", { class: "parameters" },
    h("legend", {}, `${group.model_group} parameters`),
    declared ? null : h("p", { class: "hint" }, "This model does not declare its parameters: the provider checks them."),
    h("div", { class: "fields" }, controls),
  );
  const read = () => Object.fromEntries(readers.map(([name, reader]) => [name, reader()]).filter(([, value]) => value !== undefined));
  return { fieldset, read };
}

function loose(text) {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === "true" || text === "false") return text === "true";
  return text;
}

/** Generate with one model group; never throws for an API error (the card shows it). */
async function generate(group, prompt, params) {
  const body = { model: group.model_group, prompt, ...params };
  const formats = group.params?.response_format?.values;
  if (formats && formats.includes("b64_json")) body.response_format = "b64_json";
  const started = performance.now();
  const result = { model: group.model_group, asked: params.n ?? 1, images: [], links: [], warnings: [] };
  try {
    const response = await request("/v1/images/generations", { method: "POST", body });
    const answer = await response.json();
    result.latency = performance.now() - started;
    const cost = response.headers.get("x-imagegen-response-cost");
    result.cost = cost === null ? null : Number(cost);
    result.deployment = response.headers.get("x-imagegen-deployment");
    result.warnings = headerWarnings(response.headers.get("x-imagegen-warnings"));
    for (const [index, item] of (answer.data || []).entries()) {
      if (item.b64_json) {
        const blob = imageBlob(item.b64_json);
        result.images.push({
          url: URL.createObjectURL(blob), type: blob.type, revised: item.revised_prompt || null,
          name: `imagegen-${group.model_group}-${index + 1}.${blob.type.split("/")[1]}`,
        });
      } else if (item.url) {
        result.links.push(item.url); // the page's policy shows only images it holds: opened in a new tab instead
      }
    }
    const got = result.images.length + result.links.length;
    if (got < result.asked) result.warnings.push(`Asked for ${result.asked} images, got ${got}.`);
  } catch (error) {
    result.latency = performance.now() - started;
    result.error = error.message;
    result.advice = adviceFor(error);
  }
  return result;
}

function headerWarnings(header) {
  if (!header) return [];
  try {
    const parsed = JSON.parse(header);
    return Array.isArray(parsed) ? parsed.map(String) : [String(parsed)];
  } catch {
    return [header];
  }
}

function adviceFor(error) {
  if (error.code === "budget_exceeded") return "This key has spent its budget: ask the proxy's admin to raise it or wait for it to reset.";
  if (error.code === "model_not_allowed") return "This key may not use this model: pick another or ask the admin to add it to the key.";
  if (error.status === 429) return "Too many requests: wait a little and try again.";
  if (error.status === 503) return "No deployment of this model can take requests now (not configured, or cooling down after failures). The Models page shows which.";
  if (error.status === 400) return "The model refused a parameter or the prompt: change it and generate again.";
  if (error.status >= 500 || error.status === 0) return "The provider or the proxy failed: try again in a moment.";
  return null;
}

function imageBlob(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index += 1) bytes[index] = text.charCodeAt(index);
  return new Blob([bytes], { type: imageType(bytes) });
}

function imageType(bytes) {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return "image/jpeg";
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[8] === 0x57 && bytes[9] === 0x45) return "image/webp";
  if (bytes[0] === 0x47 && bytes[1] === 0x49) return "image/gif";
  return "image/png";
}

function resultCard(result, prompt) {
  const heading = h("h3", {}, result.model);
  if (result.pending) {
    return h("article", { class: "result card", "aria-busy": "true" }, heading, loading(`Generating with ${result.model}…`));
  }
  const facts = h(
    "dl", { class: "facts" },
    h("dt", {}, "Latency"), h("dd", {}, duration(result.latency)),
    !result.error && [h("dt", {}, "Cost"), h("dd", { class: "cost" }, result.cost === null ? "in the spend log" : usd(result.cost))],
    result.deployment && [h("dt", {}, "Served by"), h("dd", {}, result.deployment)],
  );
  if (result.error) {
    return h("article", { class: "result card failed" }, heading,
      h("div", { class: "state failure", role: "alert" }, h("p", { class: "state-title" }, result.error), result.advice && h("p", {}, result.advice)),
      facts);
  }
  const images = result.images.map((image, index) => h(
    "figure", { class: "image" },
    h("img", { src: image.url, alt: `Image ${index + 1} from ${result.model} for the prompt “${prompt}”` }),
    h("figcaption", {},
      h("a", { href: image.url, download: image.name, class: "button" }, `Download image ${index + 1}`),
      image.revised && h("p", { class: "revised" }, h("span", { class: "muted" }, "Revised prompt: "), image.revised)),
  ));
  const links = result.links.map((link, index) => h("p", {},
    h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, `Open image ${images.length + index + 1} (hosted by the provider)`)));
  const restored = result.restored ? h("p", { class: "muted" }, "The images of this generation were not kept after the page reloaded.") : null;
  return h(
    "article", { class: "result card" }, heading,
    h("div", { class: "images" }, images, links, restored),
    facts,
    result.warnings.length ? h("ul", { class: "warnings", "aria-label": "Warnings" }, result.warnings.map((warning) => h("li", {}, warning))) : null,
  );
}

function remember(entry) {
  history.unshift(entry);
  for (const dropped of history.splice(MAX_HISTORY)) {
    for (const result of dropped.results) for (const image of result.images) URL.revokeObjectURL(image.url);
  }
  try {
    // Only what is small: the images stay in memory (downloads keep them for good).
    const stored = history.map((item) => ({
      ...item,
      results: item.results.map(({ images, ...rest }) => ({ ...rest, images: [], restored: images.length > 0 || rest.restored })),
    }));
    sessionStorage.setItem(HISTORY_KEY, JSON.stringify(stored));
  } catch {
    /* storage full or off: the history lives in memory */
  }
}

function restoredHistory() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
    return stored.map((entry) => ({ ...entry, restored: true }));
  } catch {
    return [];
  }
}

/** Forget this tab's generations (on sign-out): their images too. */
export function forgetHistory() {
  for (const entry of history.splice(0)) {
    for (const result of entry.results) for (const image of result.images) URL.revokeObjectURL(image.url);
  }
}
