// The proxy's HTTP API, with the tab's key in the Authorization header (never in a URL).

import { currentKey } from "./session.js";

export class ApiError extends Error {
  constructor(status, message, code = null, param = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

let onRefused = () => {};

/** Called when the proxy refuses the key (401): the console signs out and says why. */
export function whenKeyRefused(handler) {
  onRefused = handler;
}

function url(path, query) {
  const address = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") address.searchParams.set(name, value);
  }
  return address;
}

/**
 * The raw Response of a request; throws ApiError with the proxy's message for any status ≥ 400.
 * `body` is sent as JSON, `form` (a FormData) as multipart/form-data with the boundary the browser picks.
 */
export async function request(path, { method = "GET", body, form, query, accept = "application/json", key = currentKey() } = {}) {
  const headers = { accept };
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(url(path, query), {
      method, headers, body: form ?? (body === undefined ? undefined : JSON.stringify(body)),
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    });
  } catch {
    throw new ApiError(0, "The proxy did not answer. Is it still running? Check its address and try again.");
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && key === currentKey()) onRefused(error);
    throw error;
  }
  return response;
}

async function errorOf(response) {
  let message = `The proxy answered ${response.status} ${response.statusText}.`;
  let code = null;
  let param = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || null;
      param = body.error.param || null;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(response.status, message, code, param);
}

/** The JSON body of a request. */
export async function api(path, options) {
  const response = await request(path, options);
  return response.json();
}
