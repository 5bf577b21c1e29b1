// Virtual keys (master key only): the list with spend against budget, create (the key shown once), edit, delete, detail.

import { api } from "./api.js";
import { h, replace, uid, usd, dateTime, utcDay, loading, empty, failure, budgetBar, focusHeading } from "./dom.js";
import { dayChart, fillDays } from "./chart.js";
import { logTable } from "./spend.js";

const ALL_MODELS = "all-proxy-models";
const PAGE_SIZE = 50;
const DURATIONS = [["", "never"], ["1h", "1 hour"], ["1d", "1 day"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["365d", "1 year"]];
const BUDGET_PERIODS = [["", "never (a lifetime budget)"], ["1d", "every day"], ["7d", "every week"], ["30d", "every 30 days"], ["1mo", "every month"]];

export async function keysView(root, session) {
  if (!session.features.keys) {
    replace(root, h("h1", {}, "Keys"), empty(
      "Virtual keys are off on this proxy.",
      "Set general_settings.master_key in the proxy's config: the master key then creates and manages virtual keys.",
    ));
    return;
  }
  const page = new KeysPage(root);
  await page.showList(1);
}

class KeysPage {
  constructor(root) {
    this.root = root;
    this.groups = null;
  }

  async modelGroups() {
    if (!this.groups) this.groups = (await api("/model_group/info")).data.map((group) => group.model_group);
    return this.groups;
  }

  async showList(page) {
    this.page = page;
    const create = h("button", { type: "button", class: "primary", on: { click: () => this.create() } }, "Create key");
    const header = h("div", { class: "view-header" }, h("h1", {}, "Keys"), create);
    replace(this.root, header, loading("Loading keys…"));
    let listing;
    try {
      listing = await api("/key/list", { query: { return_full_object: "true", page, size: PAGE_SIZE } });
    } catch (error) {
      replace(this.root, header, failure(error, "Reload the page; if it persists, check the proxy's log and its keys database."));
      return;
    }
    if (!listing.keys.length && page === 1) {
      replace(this.root, header, empty("No virtual keys yet.", "Create one for each app or person: give it the models it may use, a budget and a rate limit."));
      return;
    }
    const rows = listing.keys.map((record) => this.row(record));
    const table = h(
      "div", { class: "table-scroll" },
      h("table", { class: "data keys" },
        h("caption", { class: "visually-hidden" }, "Virtual keys"),
        h("thead", {}, h("tr", {}, ["Key", "Models", "Spend / budget", "RPM limit", "Expires", "Actions"].map((name) => h("th", { scope: "col" }, name)))),
        h("tbody", {}, rows)),
    );
    const pager = listing.total_pages > 1 ? h(
      "nav", { class: "pager", "aria-label": "Pages of keys" },
      h("button", { type: "button", disabled: page <= 1, on: { click: () => this.showList(page - 1) } }, "Previous"),
      h("span", {}, `Page ${page} of ${listing.total_pages} · ${listing.total_count} keys`),
      h("button", { type: "button", disabled: page >= listing.total_pages, on: { click: () => this.showList(page + 1) } }, "Next"),
    ) : h("p", { class: "muted" }, `${listing.total_count} key${listing.total_count === 1 ? "" : "s"}`);
    replace(this.root, header, table, pager);
  }

  row(record) {
    const name = keyLabel(record);
    const expired = record.expires && new Date(record.expires) <= new Date();
    return h(
      "tr", { "data-token": record.token },
      h("th", { scope: "row" }, h("span", { class: "key-alias" }, record.key_alias || "(no alias)"), h("br"), h("code", { class: "muted" }, record.key_name)),
      h("td", {}, modelsText(record.models)),
      h("td", {}, budgetBar(record.spend, record.max_budget)),
      h("td", {}, record.rpm_limit ?? "—"),
      h("td", {}, record.expires ? [dateTime(record.expires), expired ? h("span", { class: "badge bad" }, " expired") : null] : "never"),
      h("td", { class: "row-actions" },
        h("button", { type: "button", on: { click: () => this.detail(record) }, "aria-label": `Details of ${name}` }, "Details"),
        h("button", { type: "button", on: { click: () => this.edit(record) }, "aria-label": `Edit ${name}` }, "Edit"),
        h("button", { type: "button", class: "danger", on: { click: () => this.remove(record) }, "aria-label": `Delete ${name}` }, "Delete")),
    );
  }

  async create() {
    const created = await keyForm(await this.modelGroups(), null);
    if (!created) return;
    await showNewKey(created.key, keyLabel(created));
    await this.showList(1);
  }

  async edit(record) {
    const updated = await keyForm(await this.modelGroups(), record);
    if (updated) await this.showList(this.page);
  }

  async remove(record) {
    const name = keyLabel(record);
    const confirmed = await confirmDialog(
      `Delete ${name}?`,
      "Anything using this key stops working within a few seconds. Its spend log rows are kept.",
      "Delete key",
      async () => api("/key/delete", { method: "POST", body: { keys: [record.token] } }),
    );
    if (confirmed) await this.showList(this.page);
  }

  async detail(record) {
    const back = h("button", { type: "button", class: "link", on: { click: () => this.showList(this.page) } }, "← All keys");
    const title = h("h1", {}, keyLabel(record));
    replace(this.root, back, title, loading("Loading this key's spend…"));
    focusHeading(this.root);
    const start = utcDay(-29);
    const end = utcDay();
    let summary;
    let logs;
    try {
      [summary, logs] = await Promise.all([
        api("/spend/summary", { query: { api_key: record.token, start_date: start, end_date: end } }),
        api("/spend/logs/ui", { query: { api_key: record.token, page_size: 20 } }),
      ]);
    } catch (error) {
      replace(this.root, back, title, failure(error, "Go back to the keys and try again."));
      return;
    }
    replace(
      this.root, back, title,
      h("dl", { class: "facts wide" },
        h("dt", {}, "Key"), h("dd", {}, h("code", {}, record.key_name)),
        h("dt", {}, "Models"), h("dd", {}, modelsText(record.models)),
        h("dt", {}, "Spend / budget"), h("dd", {}, budgetBar(record.spend, record.max_budget)),
        h("dt", {}, "Budget resets"), h("dd", {}, record.budget_duration ? `every ${record.budget_duration}, next ${dateTime(record.budget_reset_at)}` : "never"),
        h("dt", {}, "RPM limit"), h("dd", {}, record.rpm_limit ?? "none"),
        h("dt", {}, "Expires"), h("dd", {}, record.expires ? dateTime(record.expires) : "never"),
        h("dt", {}, "Created"), h("dd", {}, dateTime(record.created_at))),
      h("h2", {}, "Spend over the last 30 days"),
      h("p", {}, `${usd(summary.total.spend)} over ${summary.total.requests} requests.`),
      dayChart(fillDays(summary.by_day, start, end), `Spend per day of ${keyLabel(record)}`),
      h("h2", {}, "Latest requests"),
      logs.data.length ? logTable(logs.data, { showKey: false }) : empty("No request with this key yet."),
    );
  }
}

export function keyLabel(record) {
  return record.key_alias ? `${record.key_alias} (${record.key_name})` : record.key_name;
}

export function modelsText(models) {
  return !models || !models.length || models.includes(ALL_MODELS) ? "all models" : models.join(", ");
}

/** A modal dialog holding `content`; resolves with what `close(value)` gives (undefined when dismissed). */
function modal(build) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const dialog = h("dialog", { class: "card" });
    let value;
    const close = (result) => {
      value = result;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(value);
    });
    dialog.append(build(close));
    const heading = dialog.querySelector("h2");
    if (heading) {
      heading.id = uid("dialog-title");
      dialog.setAttribute("aria-labelledby", heading.id);
    }
    document.body.append(dialog);
    dialog.showModal();
  });
}

function field(label, control, hint) {
  const hintId = hint ? uid("hint") : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint && h("p", { class: "hint", id: hintId }, hint));
}

function select(id, options, current) {
  const known = options.some(([value]) => value === (current ?? ""));
  const all = known ? options : [...options, [current, current]];
  return h("select", { id }, all.map(([value, text]) => h("option", { value, selected: value === (current ?? "") }, text)));
}

/** The create or edit form; resolves with the API's answer, or undefined when cancelled. */
function keyForm(groups, record) {
  return modal((close) => {
    const editing = Boolean(record);
    const alias = h("input", { id: uid("alias"), type: "text", maxlength: "255", value: record?.key_alias ?? "", autocomplete: "off" });
    const chosen = new Set(record && !record.models.includes(ALL_MODELS) ? record.models : []);
    const modelBoxes = groups.map((group) => h("input", { type: "checkbox", id: uid("key-model"), value: group, checked: chosen.has(group) }));
    const budget = h("input", { id: uid("budget"), type: "number", min: "0", step: "0.01", inputmode: "decimal", value: record?.max_budget ?? "" });
    const period = select(uid("period"), BUDGET_PERIODS, record?.budget_duration);
    const rpm = h("input", { id: uid("rpm"), type: "number", min: "0", step: "1", inputmode: "numeric", value: record?.rpm_limit ?? "" });
    const expiry = select(uid("expiry"), editing ? [["keep", "keep as it is"], ...DURATIONS] : DURATIONS, editing ? "keep" : "");
    const error = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create key");
    const form = h(
      "form", { method: "post", novalidate: true },
      h("h2", {}, editing ? `Edit ${keyLabel(record)}` : "Create a key"),
      field("Alias", alias, "A name to recognise it by, e.g. the app or person using it."),
      h("fieldset", { class: "model-choices" },
        h("legend", {}, "Models it may use"),
        h("p", { class: "hint" }, "None ticked: every model of the proxy."),
        modelBoxes.map((box) => h("div", { class: "choice" }, box, h("label", { for: box.id }, box.value)))),
      field("Budget (USD)", budget, "Requests are refused once its spend reaches this. Empty: no budget."),
      field("Budget resets", period),
      field("Requests per minute", rpm, "Empty: no limit."),
      field(editing ? "Expires" : "Expires in", expiry, editing && record.expires ? `Now: ${dateTime(record.expires)}. A new choice counts from now.` : null),
      error,
      h("div", { class: "actions" }, save, h("button", { type: "button", on: { click: () => close() } }, "Cancel")),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        key_alias: alias.value.trim() || null,
        models: modelBoxes.filter((box) => box.checked).map((box) => box.value),
        max_budget: budget.value === "" ? null : Number(budget.value),
        budget_duration: period.value || null,
        rpm_limit: rpm.value === "" ? null : Number(rpm.value),
      };
      if (expiry.value !== "keep") body.duration = expiry.value || null;
      if (!editing && body.duration === null) delete body.duration;
      if (editing) {
        // Only what changed: sending budget_duration again would restart the budget period.
        const before = { ...record, models: record.models.includes(ALL_MODELS) ? [] : [...record.models].sort() };
        body.models.sort();
        for (const name of ["key_alias", "models", "max_budget", "budget_duration", "rpm_limit"]) {
          if (JSON.stringify(body[name]) === JSON.stringify(before[name] ?? null)) delete body[name];
        }
      }
      save.disabled = true;
      error.textContent = "";
      try {
        const answer = editing
          ? await api("/key/update", { method: "POST", body: { key: record.token, ...body } })
          : await api("/key/generate", { method: "POST", body });
        close(answer);
      } catch (caught) {
        error.textContent = caught.message;
      } finally {
        save.disabled = false;
      }
    });
    return form;
  });
}

/** The new key, once: with a copy button and the warning that it is not shown again. */
function showNewKey(key, label) {
  return modal((close) => {
    const value = h("input", { id: "new-key", type: "text", readonly: true, value: key, class: "secret", spellcheck: "false" });
    const status = h("p", { class: "hint", role: "status" });
    const copy = h("button", {
      type: "button", class: "primary",
      on: {
        click: async () => {
          try {
            await navigator.clipboard.writeText(key);
            status.textContent = "Copied to the clipboard.";
          } catch {
            value.select();
            status.textContent = "Select the key and copy it with Ctrl+C (this page may not write to the clipboard).";
          }
        },
      },
    }, "Copy key");
    return h(
      "div", { class: "new-key" },
      h("h2", {}, `Key created: ${label}`),
      h("p", { class: "warning-text" }, "Copy this key now. It is shown only once: the proxy keeps only its hash."),
      h("label", { for: "new-key" }, "The new key"),
      value,
      h("div", { class: "actions" }, copy, h("button", { type: "button", on: { click: () => close() } }, "Done")),
      status,
    );
  });
}

/** Ask before doing something that cannot be undone; resolves true once `action` succeeded. */
function confirmDialog(title, text, confirmLabel, action) {
  return modal((close) => {
    const error = h("p", { class: "form-error", role: "alert" });
    const cancel = h("button", { type: "button", on: { click: () => close(false) } }, "Cancel");
    const confirm = h("button", {
      type: "button", class: "danger",
      on: {
        click: async () => {
          confirm.disabled = true;
          try {
            await action();
            close(true);
          } catch (caught) {
            error.textContent = caught.message;
            confirm.disabled = false;
          }
        },
      },
    }, confirmLabel);
    queueMicrotask(() => cancel.focus()); // the safe choice is the default
    return h("div", { role: "document" }, h("h2", {}, title), h("p", {}, text), error, h("div", { class: "actions" }, confirm, cancel));
  });
}
