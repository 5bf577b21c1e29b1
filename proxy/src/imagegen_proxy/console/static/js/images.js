// The playground's calls to the proxy's image routes: a generation (JSON), an edit or a variation (multipart),
// answered as JSON or, when streamed, as Server-Sent Events read as they arrive (partial images, then the final ones).

import { ApiError, request } from "./api.js";

const ROUTES = { generation: "/v1/images/generations", edit: "/v1/images/edits", variation: "/v1/images/variations" };

/**
 * Call one model group. `call`: {operation, model, prompt, params, images (Files), mask (a Blob or null), stream,
 * partialImages (a number, or null to leave it out)}. `onPartial(image)` gets each partial image as it arrives.
 * Resolves to the result a card shows (images, cost, latency, warnings, or the error and what to do); never throws.
 */
export async function callModel(call, onPartial = () => {}) {
  const started = performance.now();
  const result = { model: call.model, asked: call.params.n ?? 1, images: [], links: [], warnings: [] };
  try {
    const response = await send(call);
    const cost = response.headers.get("x-imagegen-response-cost");
    // A streamed answer priced by its tokens has no cost header: the spend log has its cost, not the browser.
    result.cost = cost === null ? null : Number(cost);
    result.deployment = response.headers.get("x-imagegen-deployment");
    result.warnings = headerWarnings(response.headers.get("x-imagegen-warnings"));
    if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
      for await (const event of serverEvents(response)) {
        if (event.type === "error" || event.error) throw streamError(event);
        if (!event.b64_json) continue;
        const image = decoded(event.b64_json, call.model, result.images.length + 1);
        if (event.type.endsWith(".partial_image")) onPartial({ ...image, index: event.partial_image_index ?? 0 });
        else if (event.type.endsWith(".completed")) result.images.push(image);
      }
    } else {
      for (const item of (await response.json()).data || []) {
        if (item.b64_json) result.images.push({ ...decoded(item.b64_json, call.model, result.images.length + 1), revised: item.revised_prompt || null });
        else if (item.url) result.links.push(item.url); // the page's policy shows only images it holds: opened in a new tab instead
      }
    }
    result.latency = performance.now() - started;
    const got = result.images.length + result.links.length;
    if (got < result.asked) result.warnings.push(`Asked for ${result.asked} images, got ${got}.`);
  } catch (error) {
    for (const image of result.images) URL.revokeObjectURL(image.url);
    result.images = [];
    result.latency = performance.now() - started;
    result.error = error.message;
    result.advice = adviceFor(error);
  }
  return result;
}

function send(call) {
  const fields = { model: call.model, ...call.params };
  if (call.prompt) fields.prompt = call.prompt; // a variation takes none, some edits may go without
  if (call.stream) {
    fields.stream = true;
    if (call.partialImages !== null) fields.partial_images = call.partialImages;
  }
  const accept = call.stream ? "text/event-stream" : "application/json";
  if (call.operation === "generation") return request(ROUTES.generation, { method: "POST", body: fields, accept });
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
  for (const image of call.images) form.append("image", image, image.name || "image.png");
  if (call.mask) form.append("mask", call.mask, "mask.png");
  return request(ROUTES[call.operation], { method: "POST", form, accept });
}

/** The events of a `text/event-stream` answer, each `data:` payload parsed, as they arrive. */
export async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let heldBack = ""; // a chunk's last "\r", until the next one shows whether "\n" follows
  let searchFrom = 0; // an image's data line spans many chunks: scan only what is new
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    let text = heldBack + value;
    heldBack = text.endsWith("\r") ? "\r" : "";
    if (heldBack) text = text.slice(0, -1);
    buffer += text.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n", searchFrom)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      searchFrom = 0;
      const event = parsedEvent(block);
      if (event) yield event;
    }
    searchFrom = Math.max(0, buffer.length - 1);
  }
  const last = parsedEvent(buffer);
  if (last) yield last;
}

function parsedEvent(block) {
  let name = null;
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    else if (line.startsWith("event:")) name = line.slice(6).trim();
  }
  if (!data.length) return null;
  const payload = JSON.parse(data.join("\n"));
  return { ...payload, type: payload.type || name || "message" };
}

function streamError(event) {
  const error = event.error || {};
  return new ApiError(502, error.message || "The stream broke off with an error.", error.code || "stream_error");
}

function decoded(base64, model, number) {
  const blob = imageBlob(base64);
  return { blob, url: URL.createObjectURL(blob), type: blob.type, name: `imagegen-${model}-${number}.${blob.type.split("/")[1]}` };
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
  if (error.code === "stream_error") return "The provider failed while the image was being made: try again in a moment.";
  if (error.status === 413) return "An input image is too large for the proxy: send a smaller one.";
  if (error.status === 429) return "Too many requests: wait a little and try again.";
  if (error.status === 503) return "No deployment of this model can take requests now (not configured, or cooling down after failures). The Models page shows which.";
  if (error.status === 400) return "The model refused a parameter, an input image or the prompt: change it and try again.";
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
