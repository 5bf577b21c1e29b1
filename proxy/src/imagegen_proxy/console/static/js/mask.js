// Painting an edit's mask over the first input image, with a pointer (mouse, pen or touch) or the keyboard
// (arrow keys move a brush, Space puts it down or lifts it). The mask sent follows OpenAI's rule: fully
// transparent pixels mark the area to edit, the rest is opaque; it has the image's own width and height.

import { h, uid } from "./dom.js";

export class MaskPainter {
  constructor() {
    this.picture = h("img", { class: "mask-picture", alt: "The first input image, under the mask being painted" });
    const hintId = uid("mask-hint");
    this.canvas = h("canvas", {
      class: "mask-canvas", "aria-label": "Mask: paint over the area to edit", role: "img", tabindex: "0",
      "aria-describedby": hintId,
    });
    this.cursor = h("div", { class: "mask-cursor", hidden: true, "aria-hidden": "true" }); // the keyboard's brush
    this.keyboard = null; // the keyboard brush: {x, y} in image pixels, and whether it is down
    const brushId = uid("brush");
    this.brush = h("input", { id: brushId, type: "range", min: "4", max: "160", value: "40" });
    this.painted = false;
    this.file = null; // the image shown
    this.pictureUrl = null;
    this.element = h(
      "div", { class: "mask-painter", hidden: true },
      h("p", { class: "hint", id: hintId }, "Paint over the area to edit (it becomes transparent in the mask) with a mouse, pen or touch, or with the keyboard: on the image, the arrow keys move the brush and Space puts it down or lifts it."),
      h("div", { class: "mask-stage" }, this.picture, this.canvas, this.cursor),
      h("div", { class: "actions" },
        h("label", { for: brushId, class: "inline" }, "Brush size"), this.brush,
        h("button", { type: "button", on: { click: () => this.clear() } }, "Clear mask")),
    );
    this.listen();
  }

  /** Show `file` (the first input image) to paint on; a new image starts a new mask, the same one keeps it. */
  async show(file) {
    if (!this.element.hidden && this.file === file) return;
    this.file = file;
    this.keyboard = null; // the brush starts again at the new image's centre
    this.cursor.hidden = true;
    if (this.pictureUrl) URL.revokeObjectURL(this.pictureUrl);
    this.pictureUrl = URL.createObjectURL(file);
    this.picture.src = this.pictureUrl;
    await this.picture.decode();
    this.canvas.width = this.picture.naturalWidth;
    this.canvas.height = this.picture.naturalHeight;
    this.clear();
    this.element.hidden = false;
  }

  hide() {
    this.element.hidden = true;
    this.file = null;
    this.keyboard = null;
    this.clear();
  }

  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.painted = false;
  }

  /** The painted mask as a PNG: opaque, transparent where painted; null when nothing was painted. */
  async maskBlob() {
    if (this.element.hidden || !this.painted) return null;
    const mask = document.createElement("canvas");
    mask.width = this.canvas.width;
    mask.height = this.canvas.height;
    const context = mask.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, mask.width, mask.height);
    context.globalCompositeOperation = "destination-out"; // the paint's opacity punches the hole
    context.drawImage(this.canvas, 0, 0);
    return new Promise((resolve) => mask.toBlob(resolve, "image/png"));
  }

  listen() {
    let last = null;
    const scale = () => this.canvas.width / this.canvas.getBoundingClientRect().width; // image pixels per CSS pixel
    const at = (event) => {
      const box = this.canvas.getBoundingClientRect(); // one layout read a pointer move
      const ratio = this.canvas.width / box.width;
      return { x: (event.clientX - box.left) * ratio, y: (event.clientY - box.top) * ratio, scale: ratio };
    };
    const paint = (from, to) => {
      const context = this.canvas.getContext("2d");
      const width = Number(this.brush.value) * to.scale;
      context.fillStyle = context.strokeStyle = "#e11d48"; // opaque: the canvas's own opacity lets the image show
      context.beginPath();
      context.arc(to.x, to.y, width / 2, 0, 2 * Math.PI); // a click paints a dot
      context.fill();
      context.lineWidth = width;
      context.lineCap = "round";
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x, to.y);
      context.stroke();
      this.painted = true;
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      last = at(event);
      paint(last, last);
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (last === null) return;
      const next = at(event);
      paint(last, next);
      last = next;
    });
    for (const end of ["pointerup", "pointercancel"]) this.canvas.addEventListener(end, () => { last = null; });
    this.listenToKeys(paint, scale);
  }

  listenToKeys(paint, scale) {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const showCursor = () => {
      const { x, y, down } = this.keyboard;
      Object.assign(this.cursor.style, {
        left: `${(100 * x) / this.canvas.width}%`, top: `${(100 * y) / this.canvas.height}%`,
        width: `${this.brush.value}px`, height: `${this.brush.value}px`,
      });
      this.cursor.classList.toggle("down", down);
      this.cursor.hidden = false;
    };
    this.canvas.addEventListener("focus", () => {
      this.keyboard ??= { x: this.canvas.width / 2, y: this.canvas.height / 2, down: false };
      showCursor();
    });
    this.canvas.addEventListener("blur", () => {
      this.cursor.hidden = true;
      if (this.keyboard) this.keyboard.down = false;
    });
    this.canvas.addEventListener("keydown", (event) => {
      const brush = this.keyboard;
      if (!brush) return;
      const here = () => ({ x: brush.x, y: brush.y, scale: scale() });
      if (event.key === " " || event.key === "Enter") {
        brush.down = !brush.down;
        if (brush.down) paint(here(), here());
      } else if (event.key === "Escape" && brush.down) {
        brush.down = false;
      } else if (event.key in moves) {
        const [dx, dy] = moves[event.key];
        const step = Math.max(Number(this.brush.value) / 2, 4) * scale(); // half the brush: strokes overlap
        const from = here();
        brush.x = Math.min(Math.max(brush.x + dx * step, 0), this.canvas.width);
        brush.y = Math.min(Math.max(brush.y + dy * step, 0), this.canvas.height);
        if (brush.down) paint(from, here());
      } else {
        return;
      }
      event.preventDefault(); // no scrolling, no form submission
      showCursor();
    });
  }
}
