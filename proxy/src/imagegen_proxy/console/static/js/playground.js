// The playground: pick model groups and an operation (generate, edit, variations), set each model's parameters
// from what it declares, and compare the images side by side, watching partial images arrive when streaming.

import { api } from "./api.js";
import { h, replace, uid, usd, duration, loading, empty, failure } from "./dom.js";
import { callModel } from "./images.js";
import { MaskPainter } from "./mask.js";

// Set by the console itself, or not about the picture.
const NOT_OFFERED = new Set(["response_format", "user", "stream", "partial_images"]);
const MODES = [
  { operation: "generation", label: "Generate", action: "Generate", busy: "Generating" },
  { operation: "edit", label: "Edit", action: "Edit", busy: "Editing" },
  { operation: "variation", label: "Variations", action: "Make variations", busy: "Making variations" },
];
const IMAGE_TYPES = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };
const MB = 1024 * 1024;
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
  // Only the operations some group serves are offered (from /model_group/info: nothing is tried to find out).
  const modes = MODES.filter((mode) => groups.some((group) => group.supported_operations.includes(mode.operation)));
  if (!modes.length) {
    replace(root, title, empty(
      "There is no model you can generate with.",
      session.role === "key"
        ? "This key may use no model group of this proxy: ask its admin to add models to the key."
        : "Add an image model to the proxy's config (model_list) and restart it.",
    ));
    return;
  }
  const playground = new Playground(groups, modes);
  replace(root, title, playground.element);
}

class Playground {
  constructor(groups, modes) {
    this.groups = groups;
    this.modes = modes;
    this.mode = modes[0];
    this.selected = new Set([this.offering()[0].model_group]);
    this.parameterSets = new Map(); // "operation group" → its fieldset and how to read it (kept while hidden)
    this.mask = new MaskPainter();
    this.build();
  }

  /** The groups that serve the current operation. */
  offering() {
    return this.groups.filter((group) => group.supported_operations.includes(this.mode.operation));
  }

  chosen() {
    return this.offering().filter((group) => this.selected.has(group.model_group));
  }

  /** What `group` declares for the current operation: params, input limits, streaming. */
  capability(group) {
    return group.operations?.[this.mode.operation] ?? { params: group.params };
  }

  build() {
    const modePicker = this.modes.length > 1 && h(
      "fieldset", { class: "modes" },
      h("legend", {}, "Operation"),
      this.modes.map((mode) => {
        const id = uid("mode");
        return h("div", { class: "choice" },
          h("input", { type: "radio", name: "mode", id, value: mode.operation, checked: mode === this.mode,
            on: { change: () => this.setMode(mode) } }),
          h("label", { for: id }, mode.label));
      }),
    );
    this.choices = h("fieldset", { class: "model-choices" });
    this.buildInputs();
    this.prompt = h("textarea", {
      id: "prompt", rows: "3", required: true, placeholder: "A cute baby sea otter, watercolour",
      "aria-describedby": "prompt-hint",
      on: { keydown: (event) => { if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) this.form.requestSubmit(); } },
    });
    this.promptField = h("div", {},
      h("label", { for: "prompt" }, "Prompt"),
      this.prompt,
      h("p", { class: "hint", id: "prompt-hint" }, "Ctrl+Enter sends. Every selected model gets the same prompt."));
    this.parameters = h("div", { class: "parameter-sets" });
    this.buildStreaming();
    this.status = h("p", { class: "form-error", role: "alert" });
    this.button = h("button", { type: "submit", class: "primary" });
    this.form = h(
      "form", { class: "card generate", method: "post", novalidate: true, on: { submit: (event) => this.submit(event) } },
      modePicker,
      this.choices,
      this.inputs,
      this.promptField,
      this.parameters,
      this.streaming,
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
    this.showChoices();
    this.refresh();
    if (history.length) this.showEntry(history[0]);
    else replace(this.results, empty("Nothing generated yet.", "Pick one or more models, write a prompt and press Generate."));
    this.showHistory();
  }

  /** The input image(s) of an edit or a variation, and an edit's mask: uploaded, or painted on the first image. */
  buildInputs() {
    this.imagesInput = h("input", {
      type: "file", id: "input-images", "aria-describedby": "input-images-hint",
      on: { change: () => this.showMaskPainter() },
    });
    this.imagesLabel = h("label", { for: "input-images" });
    this.imagesHint = h("p", { class: "hint", id: "input-images-hint" });
    this.maskInput = h("input", { type: "file", id: "mask-file", accept: "image/png", "aria-describedby": "mask-file-hint" });
    this.maskField = h("div", { class: "field" },
      h("label", { for: "mask-file" }, "Mask file (optional)"),
      this.maskInput,
      h("p", { class: "hint", id: "mask-file-hint" },
        "A PNG the size of the first image, transparent where the image should change. Sent instead of a painted mask."));
    this.inputs = h("fieldset", { class: "inputs" },
      h("legend", {}, "Input images"),
      h("div", { class: "field" }, this.imagesLabel, this.imagesInput, this.imagesHint),
      this.maskField,
      this.mask.element);
  }

  buildStreaming() {
    this.streamBox = h("input", {
      type: "checkbox", id: "stream", "aria-describedby": "stream-hint",
      on: { change: () => { this.partialImages.disabled = !this.streamBox.checked; } },
    });
    this.partialImages = h("input", { type: "number", id: "partial-images", min: "0", max: "3", step: "1", value: "2", disabled: true });
    this.streamHint = h("p", { class: "hint", id: "stream-hint" });
    this.streaming = h("div", { class: "streaming" },
      h("div", { class: "choice" }, this.streamBox, h("label", { for: "stream" }, "Stream: show partial images as they arrive")),
      h("div", { class: "field" }, h("label", { for: "partial-images" }, "Partial images (0–3)"), this.partialImages),
      this.streamHint);
  }

  setMode(mode) {
    this.mode = mode;
    const offered = this.offering().map((group) => group.model_group);
    if (!offered.some((name) => this.selected.has(name))) this.selected.add(offered[0]);
    this.showChoices();
    this.refresh();
  }

  toggle(name, on) {
    if (on) this.selected.add(name);
    else this.selected.delete(name);
    this.refresh();
  }

  /** The models that serve the current operation (rebuilt only when it changes: a toggle keeps its focus). */
  showChoices() {
    replace(this.choices, h("legend", {}, "Models"), this.offering().map((group) => {
      const id = uid("model");
      return h(
        "div", { class: "choice" },
        h("input", {
          type: "checkbox", id, value: group.model_group, checked: this.selected.has(group.model_group),
          on: { change: (event) => this.toggle(group.model_group, event.target.checked) },
        }),
        h("label", { for: id }, group.model_group, h("span", { class: "muted" }, ` ${group.providers.join(", ")}`)),
      );
    }));
  }

  /** Show the controls the current operation and the chosen models take. */
  refresh() {
    const { operation } = this.mode;
    const capabilities = this.chosen().map((group) => this.capability(group));
    this.inputs.hidden = operation === "generation";
    if (!this.inputs.hidden) this.describeInputs(capabilities);
    this.promptField.hidden = capabilities.length > 0 && capabilities.every((capability) => capability.prompt === "none");
    replace(this.parameters, this.chosen().map((group) => this.parameterSet(group).fieldset));
    this.streaming.hidden = !capabilities.some((capability) => capability.streaming);
    const emulated = this.chosen().filter((group) => this.capability(group).streaming === "emulated");
    this.streamHint.textContent = emulated.length
      ? `${emulated.map((group) => group.model_group).join(", ")} cannot stream partial images: only the final image arrives.`
      : "";
    this.button.textContent = this.mode.action;
  }

  describeInputs(capabilities) {
    const edit = this.mode.operation === "edit";
    const most = Math.max(1, ...capabilities.map((capability) => capability.max_images ?? 1));
    this.imagesInput.multiple = edit && most > 1;
    this.imagesLabel.textContent = this.imagesInput.multiple ? `Input images (up to ${most})` : "Input image";
    const formats = [...new Set(capabilities.flatMap((capability) => capability.formats ?? Object.keys(IMAGE_TYPES)))];
    this.imagesInput.accept = (formats.length ? formats : Object.keys(IMAGE_TYPES)).map((format) => IMAGE_TYPES[format] || `image/${format}`).join(",");
    const limits = [
      formats.map((format) => format.toUpperCase()).join(", "),
      capabilities.some((capability) => capability.square) && "square",
      maxBytesText(capabilities),
    ].filter(Boolean);
    this.imagesHint.textContent = limits.length ? `${limits.join("; ")}.` : "";
    this.maskField.hidden = !edit || !capabilities.some((capability) => capability.mask);
    this.showMaskPainter();
  }

  showMaskPainter() {
    const first = this.imagesInput.files[0];
    if (this.inputs.hidden || this.maskField.hidden || !first) {
      this.mask.hide();
      return;
    }
    this.mask.show(first).catch(() => {
      this.mask.hide();
      this.status.textContent = `${first.name} could not be read as an image: choose a PNG, JPEG or WEBP file.`;
    });
  }

  parameterSet(group) {
    const key = `${this.mode.operation} ${group.model_group}`;
    let set = this.parameterSets.get(key);
    if (!set) {
      set = parameterFieldset(group.model_group, this.capability(group).params);
      this.parameterSets.set(key, set);
    }
    return set;
  }

  async submit(event) {
    event.preventDefault();
    const { operation } = this.mode;
    const groups = this.chosen();
    const prompt = this.promptField.hidden ? "" : this.prompt.value.trim();
    const images = operation === "generation" ? [] : [...this.imagesInput.files].slice(0, operation === "edit" ? undefined : 1);
    if (!groups.length) {
      this.status.textContent = "Pick at least one model.";
      return;
    }
    if (operation !== "generation" && !images.length) {
      this.status.textContent = "Choose an input image first.";
      this.imagesInput.focus();
      return;
    }
    const promptNeeded = operation === "generation" || groups.some((group) => this.capability(group).prompt === "required");
    if (promptNeeded && !prompt) {
      this.status.textContent = "Write a prompt first.";
      this.prompt.focus();
      return;
    }
    this.status.textContent = "";
    this.button.disabled = true;
    const mask = operation === "edit" ? this.maskInput.files[0] ?? await this.mask.maskBlob() : null;
    const stream = !this.streaming.hidden && this.streamBox.checked;
    const partialImages = this.partialImages.value === "" ? null : Math.min(3, Math.max(0, Math.round(Number(this.partialImages.value))));
    const subject = prompt || images[0].name;
    // Leaving the page does not cancel: the images are made (and paid for) anyway, so they reach the history.
    const entry = { time: new Date().toISOString(), operation, prompt: subject, results: [] };
    const cards = groups.map((group) => pendingCard(group.model_group, this.mode.busy));
    replace(this.results, h("div", { class: "result-grid" }, cards.map((card) => card.element)));
    entry.results = await Promise.all(groups.map(async (group, index) => {
      const capability = this.capability(group);
      const problem = inputProblem(capability, images);
      const result = problem
        ? { model: group.model_group, images: [], links: [], warnings: [], error: problem, advice: "Change the input images and try again." }
        : await callModel({
          operation, model: group.model_group, prompt, images,
          params: { ...this.parameterSet(group).read(), ...base64Answer(capability) },
          mask: capability.mask === false ? null : mask,
          stream: stream && Boolean(capability.streaming),
          partialImages: capability.streaming === "native" ? partialImages : null,
        }, (image) => cards[index].showPartial(image));
      if (mask && capability.mask === false && !problem) result.warnings.push(`${group.model_group} takes no mask: the edit was sent without it.`);
      cards[index].element.replaceWith(resultCard(result, subject, this.editor()));
      cards[index].done();
      return result;
    }));
    this.button.disabled = false;
    remember(entry);
    this.showHistory();
  }

  /** What a result's "Edit image" button does, where some model edits: that image becomes the edit's input. */
  editor() {
    const edit = this.modes.find((mode) => mode.operation === "edit");
    if (!edit) return null;
    return (image) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([image.blob], image.name, { type: image.type }));
      this.imagesInput.files = transfer.files;
      const radio = this.form.querySelector('input[name="mode"][value="edit"]');
      if (radio) radio.checked = true;
      this.setMode(edit);
      this.imagesInput.scrollIntoView({ block: "center" });
      this.imagesInput.focus();
    };
  }

  showEntry(entry) {
    replace(this.results, h(
      "div", {},
      h("p", { class: "muted" }, `${new Date(entry.time).toLocaleTimeString()} — ${entryTitle(entry)}`),
      h("div", { class: "result-grid" }, entry.results.map((result) => resultCard(result, entry.prompt, this.editor()))),
    ));
  }

  showHistory() {
    if (!history.length) {
      replace(this.historyList, h("li", { class: "muted" }, "Your generations in this tab appear here."));
      return;
    }
    replace(this.historyList, history.map((entry) => {
      const thumbnails = entry.results.flatMap((result) => result.images.map((image) => h("img", {
        src: image.url, alt: "", class: "thumbnail", width: "48", height: "48",
      })));
      return h(
        "li", {},
        h("button", { type: "button", class: "link", on: { click: () => this.showEntry(entry) } },
          `${new Date(entry.time).toLocaleTimeString()} — ${entryTitle(entry).slice(0, 80)}`),
        h("span", { class: "muted" }, ` ${entry.results.map((result) => result.model).join(", ")} · ${entryCost(entry)}`),
        entry.restored ? h("span", { class: "muted" }, " · images are not kept after a reload") : thumbnails,
      );
    }));
  }
}

function entryTitle(entry) {
  const mode = MODES.find((candidate) => candidate.operation === entry.operation);
  return mode && mode.operation !== "generation" ? `${mode.label}: “${entry.prompt}”` : `“${entry.prompt}”`;
}

/** What an entry cost; a result whose cost the browser does not know (priced by tokens) is in the spend log. */
function entryCost(entry) {
  const answered = entry.results.filter((result) => !result.error);
  const priced = answered.filter((result) => result.cost !== null && result.cost !== undefined);
  const known = usd(priced.reduce((sum, result) => sum + result.cost, 0));
  if (priced.length === answered.length) return known;
  return priced.length ? `${known} + the rest in the spend log` : "cost in the spend log";
}

function maxBytesText(capabilities) {
  const limits = capabilities.map((capability) => capability.max_bytes).filter(Boolean);
  return limits.length ? `under ${Math.min(...limits) / MB} MB each` : null;
}

/** Why a model would refuse these input images before sending them, or null. */
function inputProblem(capability, images) {
  if (capability.max_images && images.length > capability.max_images) {
    return `This model takes at most ${capability.max_images} input image${capability.max_images === 1 ? "" : "s"}; ${images.length} were chosen.`;
  }
  const large = capability.max_bytes && images.find((image) => image.size >= capability.max_bytes);
  return large ? `${large.name} is ${(large.size / MB).toFixed(1)} MB; this model takes images under ${capability.max_bytes / MB} MB.` : null;
}

/** Ask for base64 where the model offers it: the page's policy shows only images it holds. */
function base64Answer(capability) {
  const formats = capability.params?.response_format?.values;
  return formats && formats.includes("b64_json") ? { response_format: "b64_json" } : {};
}

/** One model's parameter controls, from its declared capabilities; `read()` gives the values set. */
function parameterFieldset(model, declared) {
  const readers = [];
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
    h("legend", {}, `${model} parameters`),
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

/** A card waiting for one model's images; a streamed answer's partial images show in it as they arrive. */
function pendingCard(model, busy) {
  const element = h("article", { class: "result card", "aria-busy": "true" }, h("h3", {}, model), loading(`${busy} with ${model}…`));
  let shown = null;
  return {
    element,
    showPartial(image) {
      if (shown) URL.revokeObjectURL(shown);
      shown = image.url;
      element.querySelector("figure")?.remove();
      element.append(h("figure", { class: "image partial" },
        h("img", { src: image.url, alt: `Partial image ${image.index + 1} from ${model}, still being made` }),
        h("figcaption", {}, `Partial image ${image.index + 1}`)));
    },
    done() {
      if (shown) URL.revokeObjectURL(shown);
    },
  };
}

/** A model's answer: its images (each downloadable, and editable when `onEdit` is given), cost and warnings. */
function resultCard(result, prompt, onEdit = null) {
  const heading = h("h3", {}, result.model);
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
    h("img", { src: image.url, alt: `Image ${index + 1} from ${result.model} for “${prompt}”` }),
    h("figcaption", {},
      h("a", { href: image.url, download: image.name, class: "button" }, `Download image ${index + 1}`),
      onEdit && " ",
      onEdit && h("button", { type: "button", on: { click: () => onEdit(image) } }, `Edit image ${index + 1}`),
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
