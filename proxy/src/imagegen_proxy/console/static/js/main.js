// The console: sign-in, navigation between views (#/playground, #/keys, #/spend, #/models) and sign-out.

import { api, ApiError, whenKeyRefused } from "./api.js";
import { h, replace, focusHeading, failure, loading } from "./dom.js";
import { keep, forget } from "./session.js";
import { playgroundView, forgetHistory } from "./playground.js";
import { keysView } from "./keys.js";
import { spendView } from "./spend.js";
import { modelsView } from "./models.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const roleLabel = document.getElementById("role");

const VIEWS = {
  playground: { render: playgroundView, roles: ["admin", "key", "open"] },
  keys: { render: keysView, roles: ["admin"] },
  spend: { render: spendView, roles: ["admin", "key", "open"] },
  models: { render: modelsView, roles: ["admin", "open"] },
};

/** Who is signed in: {role, features}; null before sign-in. */
let session = null;
let leaveView = null;

function viewName() {
  const match = /^#\/([a-z]+)/.exec(window.location.hash);
  return match && VIEWS[match[1]] ? match[1] : "playground";
}

async function show() {
  if (!session) return;
  if (leaveView) leaveView();
  leaveView = null;
  const name = viewName();
  const view = VIEWS[name];
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const root = h("div", { class: "view" });
  replace(main, root);
  if (!view.roles.includes(session.role)) {
    replace(root, h("h1", {}, "Not available with this key"),
      failure(new ApiError(403, "This page is for the proxy's master key."),
        "A virtual key can use the playground and see its own usage. Sign in with the master key to manage keys and models."));
  } else {
    leaveView = await view.render(root, session);
  }
  focusHeading(root);
}

function showNav() {
  const signedIn = Boolean(session);
  nav.hidden = !signedIn;
  who.hidden = !signedIn || session.role === "open";
  if (!signedIn) return;
  for (const link of nav.querySelectorAll("a")) {
    link.hidden = !VIEWS[link.dataset.view].roles.includes(session.role);
  }
  nav.querySelector('[data-view="spend"]').textContent = session.role === "key" ? "Usage" : "Spend";
  roleLabel.textContent = session.role === "admin" ? "Master key" : "Virtual key";
}

function signInForm(message) {
  const input = h("input", {
    id: "signin-key", type: "password", autocomplete: "off", spellcheck: "false", required: true,
    "aria-describedby": "signin-hint",
  });
  const error = h("p", { class: "form-error", id: "signin-error", role: "alert" }, message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form", { class: "card signin", method: "post", "aria-labelledby": "signin-title", novalidate: true },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("p", {}, "Use the proxy's master key to manage keys, spend and models, or a virtual key to use the playground and see its own usage."),
    h("label", { for: "signin-key" }, "API key"),
    input,
    h("p", { class: "hint", id: "signin-hint" },
      "Kept in this browser tab only and sent in the Authorization header. Closing the tab or signing out forgets it."),
    button,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Enter a key: the master key (general_settings.master_key) or a virtual key (sk-…).";
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = "";
    try {
      const info = await api("/auth/info", { key });
      if (info.role === "anonymous") throw new ApiError(401, "No key was sent.");
      keep(key);
      await start(info);
    } catch (caught) {
      error.textContent = caught.status === 401
        ? "That key was refused: it is wrong, expired or deleted. Check it and try again."
        : caught.message;
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function showSignIn(message) {
  session = null;
  if (leaveView) leaveView();
  leaveView = null;
  showNav();
  const form = signInForm(message);
  replace(main, form);
  form.querySelector("input").focus();
}

async function start(info) {
  session = { role: info.role, features: info.features };
  showNav();
  await show();
}

function signOut(message) {
  forget();
  forgetHistory();
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
  showSignIn(message);
}

async function boot() {
  document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out. The key was forgotten by this tab."));
  whenKeyRefused(() => signOut("The proxy refused the key (it was deleted, expired or changed). Sign in again."));
  window.addEventListener("hashchange", show);
  replace(main, loading("Connecting to the proxy…"));
  try {
    const info = await api("/auth/info");
    if (info.role === "anonymous") showSignIn();
    else await start(info);
  } catch (caught) {
    if (caught.status === 401) return; // whenKeyRefused has shown the sign-in
    replace(main, failure(caught, "Reload the page once the proxy is running."));
  }
}

boot();
