// inpaintlab's page: paint a mask over a picture and fill it through the REST API (api/v1/...).
// No build step and nothing fetched from elsewhere: this file, app.css and index.html are all of it.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  file: $("file"), brush: $("brush"), eraser: $("eraser"), size: $("size"), sizeValue: $("size-value"),
  undo: $("undo"), redo: $("redo"), clear: $("clear"), model: $("model"), dilate: $("dilate"),
  inpaint: $("inpaint"), status: $("status"), error: $("error"), progress: $("progress"),
  stage: $("stage"), drop: $("drop"), frame: $("frame"), before: $("before"), after: $("after"),
  mask: $("mask"), cursor: $("cursor"), result: $("result"), compare: $("compare"), toggle: $("toggle"),
  again: $("again"), download: $("download"), server: $("server"),
};
const ctx = ui.mask.getContext("2d");
const MASK_COLOR = "rgb(255, 48, 48)";

const state = {
  picture: null,   // {blob, name, width, height, url}: what the next inpaint fills
  strokes: [],     // the mask as a list of strokes (undo pops, redo pushes back)
  redo: [],
  drawing: null,   // the stroke under the pointer
  tool: "brush",
  result: null,    // {blob, url, model, seconds}
  busy: false,
};

// ---------- messages ----------
function say(text) { ui.status.textContent = text; }
function fail(text) { ui.error.textContent = text; ui.error.hidden = false; }
function clearError() { ui.error.hidden = true; ui.error.textContent = ""; }

function describeError(status, body) {
  // FastAPI errors are {"detail": "..."} or {"detail": [{"loc": [...], "msg": "..."}]}
  try {
    const detail = JSON.parse(body).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  } catch (_) { /* not JSON */ }
  const text = body.trim().slice(0, 300);
  return `the server answered ${status}${text ? ": " + text : " with no message"}`;
}

// ---------- the picture ----------
async function openPicture(blob, name) {
  clearError();
  if (!blob || !(blob.type.startsWith("image/") || blob.type === "")) {
    fail(`"${name}" is not a picture; open a JPEG, PNG or WebP file.`);
    return;
  }
  const url = URL.createObjectURL(blob);
  const probe = new Image();
  probe.src = url;
  try {
    await probe.decode();
  } catch (_) {
    URL.revokeObjectURL(url);
    fail(`The browser cannot decode "${name}" as a picture; open a JPEG, PNG or WebP file.`);
    return;
  }
  if (state.picture && state.picture.url !== (state.result && state.result.url)) URL.revokeObjectURL(state.picture.url);
  dropResult();
  state.picture = { blob, name, width: probe.naturalWidth, height: probe.naturalHeight, url };
  ui.before.src = url;
  await ui.before.decode().catch(() => {});
  ui.mask.width = probe.naturalWidth;
  ui.mask.height = probe.naturalHeight;
  state.strokes = [];
  state.redo = [];
  render();
  ui.drop.hidden = true;
  ui.frame.hidden = false;
  ui.mask.hidden = false;
  say(`${name}: ${probe.naturalWidth} x ${probe.naturalHeight}. Paint over what should go, then press Inpaint.`);
  updateButtons();
}

function stem(name) { return (name || "picture").replace(/\.[^.]*$/, "").replace(/-inpainted$/, ""); }

// ---------- the mask ----------
function imageScale() {
  // image pixels per CSS pixel of the displayed picture
  const rect = ui.mask.getBoundingClientRect();
  return rect.width > 0 ? ui.mask.width / rect.width : 1;
}

function toImage(event) {
  const rect = ui.mask.getBoundingClientRect();
  return [
    (event.clientX - rect.left) * (ui.mask.width / rect.width),
    (event.clientY - rect.top) * (ui.mask.height / rect.height),
  ];
}

function drawSegment(stroke, from, to) {
  ctx.save();
  ctx.globalCompositeOperation = stroke.mode === "erase" ? "destination-out" : "source-over";
  ctx.strokeStyle = ctx.fillStyle = MASK_COLOR;
  ctx.lineWidth = stroke.size;
  ctx.lineCap = ctx.lineJoin = "round";
  if (from[0] === to[0] && from[1] === to[1]) {
    ctx.beginPath();
    ctx.arc(to[0], to[1], stroke.size / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
  }
  ctx.restore();
}

function drawStroke(stroke) {
  if (stroke.mode === "clear") { ctx.clearRect(0, 0, ui.mask.width, ui.mask.height); return; }
  const p = stroke.points;
  drawSegment(stroke, p[0], p[0]);
  for (let i = 1; i < p.length; i++) drawSegment(stroke, p[i - 1], p[i]);
}

function render() {
  ctx.clearRect(0, 0, ui.mask.width, ui.mask.height);
  for (const stroke of state.strokes) drawStroke(stroke);
}

function maskIsEmpty() {
  let painted = false;
  for (const s of state.strokes) painted = s.mode === "paint" ? true : s.mode === "clear" ? false : painted;
  return !painted;
}

function commit(stroke) {
  state.strokes.push(stroke);
  state.redo = [];
  updateButtons();
}

function undo() {
  if (!state.strokes.length || state.busy) return;
  state.redo.push(state.strokes.pop());
  render();
  updateButtons();
}

function redo() {
  if (!state.redo.length || state.busy) return;
  state.strokes.push(state.redo.pop());
  render();
  updateButtons();
}

function clearMask() {
  if (maskIsEmpty() || state.busy) return;
  commit({ mode: "clear", points: [] });
  render();
}

function maskBlob() {
  // white (hole) on black, at the picture's own size
  const out = document.createElement("canvas");
  out.width = ui.mask.width;
  out.height = ui.mask.height;
  const c = out.getContext("2d");
  c.drawImage(ui.mask, 0, 0);
  c.globalCompositeOperation = "source-in";
  c.fillStyle = "#fff";
  c.fillRect(0, 0, out.width, out.height);
  c.globalCompositeOperation = "destination-over";
  c.fillStyle = "#000";
  c.fillRect(0, 0, out.width, out.height);
  return new Promise((resolve, reject) =>
    out.toBlob((b) => (b ? resolve(b) : reject(new Error("the mask could not be encoded"))), "image/png"));
}

// ---------- pointer input (mouse, pen and touch alike) ----------
function brushSize() { return Math.max(1, Number(ui.size.value) * imageScale()); }

function moveCursor(event) {
  if (event.pointerType === "touch" || state.busy) { ui.cursor.hidden = true; return; }
  const rect = ui.mask.getBoundingClientRect();
  const d = Number(ui.size.value);
  Object.assign(ui.cursor.style, {
    left: `${event.clientX - rect.left}px`, top: `${event.clientY - rect.top}px`, width: `${d}px`, height: `${d}px`,
  });
  ui.cursor.hidden = false;
}

ui.mask.addEventListener("pointerdown", (event) => {
  if (!state.picture || state.busy || event.button > 0) return;
  event.preventDefault();
  if (state.result) adoptResult();
  ui.mask.setPointerCapture(event.pointerId);
  const point = toImage(event);
  state.drawing = { mode: state.tool === "eraser" ? "erase" : "paint", size: brushSize(), points: [point], id: event.pointerId };
  drawSegment(state.drawing, point, point);
});

ui.mask.addEventListener("pointermove", (event) => {
  moveCursor(event);
  const stroke = state.drawing;
  if (!stroke || stroke.id !== event.pointerId) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const point = toImage(e);
    drawSegment(stroke, stroke.points[stroke.points.length - 1], point);
    stroke.points.push(point);
  }
});

function endStroke(event) {
  const stroke = state.drawing;
  if (!stroke || stroke.id !== event.pointerId) return;
  state.drawing = null;
  delete stroke.id;
  commit(stroke);
  clearError();  // after the stroke: the layout must not move under the pointer while painting
}
ui.mask.addEventListener("pointerup", endStroke);
ui.mask.addEventListener("pointercancel", endStroke);
ui.mask.addEventListener("pointerleave", () => { ui.cursor.hidden = true; });

// ---------- inpaint ----------
async function inpaint() {
  if (!state.picture || state.busy) return;
  if (state.result) { say("This is the result; press Inpaint again to paint on it."); return; }
  if (maskIsEmpty()) { fail("The mask is empty: paint over what should be filled first."); return; }
  clearError();
  state.busy = true;
  updateButtons();
  ui.progress.hidden = false;
  const model = ui.model.value;
  const started = performance.now();
  const tick = setInterval(() => {
    say(`Inpainting with ${model}\u2026 ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 100);
  say(`Inpainting with ${model}\u2026`);
  try {
    const form = new FormData();
    form.append("image", state.picture.blob, state.picture.name);
    form.append("mask", await maskBlob(), "mask.png");
    form.append("model", model);
    form.append("dilate", String(Math.max(0, Math.floor(Number(ui.dilate.value) || 0))));
    let response;
    try {
      response = await fetch("api/v1/inpaint", { method: "POST", body: form });
    } catch (err) {
      throw new Error(`Could not reach the inpaintlab server (${err.message}). Is \`inpaintlab serve\` still running?`);
    }
    if (!response.ok) throw new Error(describeError(response.status, await response.text()));
    const blob = await response.blob();
    const seconds = (performance.now() - started) / 1000;
    showResult(blob, response.headers.get("X-Inpaintlab-Model") || model, seconds);
  } catch (err) {
    fail(`Inpainting failed: ${err.message}`);
    say("Nothing was changed; fix the problem above and press Inpaint again.");
  } finally {
    clearInterval(tick);
    state.busy = false;
    ui.progress.hidden = true;
    updateButtons();
  }
}

function showResult(blob, model, seconds) {
  const url = URL.createObjectURL(blob);
  state.result = { blob, url, model, seconds };
  ui.after.src = url;
  ui.after.hidden = false;
  ui.mask.hidden = true;
  ui.cursor.hidden = true;
  ui.compare.value = 100;
  setCompare(100);
  ui.download.href = url;
  ui.download.download = `${stem(state.picture.name)}-inpainted.png`;
  ui.result.hidden = false;
  say(`Filled by ${model} in ${seconds.toFixed(1)} s. Compare with the slider, download, or inpaint again.`);
}

function dropResult() {
  if (!state.result) return;
  ui.after.hidden = true;
  ui.after.removeAttribute("src");
  ui.result.hidden = true;
  ui.download.removeAttribute("href");
  if (!state.picture || state.picture.url !== state.result.url) URL.revokeObjectURL(state.result.url);
  state.result = null;
}

function adoptResult() {
  // the result becomes the picture: paint a new mask on it and inpaint again
  const { blob, url } = state.result;
  const previous = state.picture;
  state.result.url = null;  // kept alive as the picture's url
  dropResult();
  if (previous && previous.url !== url) URL.revokeObjectURL(previous.url);
  state.picture = { ...previous, blob, url, name: `${stem(previous.name)}-inpainted.png` };
  ui.before.src = url;
  state.strokes = [];
  state.redo = [];
  render();
  ui.mask.hidden = false;
  say("Paint on the result, then press Inpaint.");
  updateButtons();
}

function setCompare(value) {
  ui.after.style.clipPath = `inset(0 ${100 - value}% 0 0)`;
  ui.toggle.textContent = value > 0 ? "Show before" : "Show after";
}

// ---------- buttons, shortcuts, drag and drop ----------
function setTool(tool) {
  state.tool = tool;
  for (const [button, name] of [[ui.brush, "brush"], [ui.eraser, "eraser"]]) {
    button.classList.toggle("active", tool === name);
    button.setAttribute("aria-pressed", String(tool === name));
  }
}

function setSize(value) {
  ui.size.value = Math.min(Number(ui.size.max), Math.max(Number(ui.size.min), value));
  ui.sizeValue.textContent = ui.size.value;
}

function updateButtons() {
  const idle = !state.busy && !!state.picture;
  ui.undo.disabled = !idle || !state.strokes.length || !!state.result;
  ui.redo.disabled = !idle || !state.redo.length || !!state.result;
  ui.clear.disabled = !idle || maskIsEmpty() || !!state.result;
  ui.inpaint.disabled = !idle || !!state.result;
  ui.again.disabled = state.busy;
  ui.file.disabled = state.busy;
}

ui.file.addEventListener("change", () => { if (ui.file.files[0]) openPicture(ui.file.files[0], ui.file.files[0].name); ui.file.value = ""; });
ui.brush.addEventListener("click", () => setTool("brush"));
ui.eraser.addEventListener("click", () => setTool("eraser"));
ui.size.addEventListener("input", () => setSize(Number(ui.size.value)));
ui.undo.addEventListener("click", undo);
ui.redo.addEventListener("click", redo);
ui.clear.addEventListener("click", clearMask);
ui.inpaint.addEventListener("click", inpaint);
ui.again.addEventListener("click", () => { if (state.result) adoptResult(); });
ui.compare.addEventListener("input", () => setCompare(Number(ui.compare.value)));
ui.toggle.addEventListener("click", () => { ui.compare.value = Number(ui.compare.value) > 0 ? 0 : 100; setCompare(Number(ui.compare.value)); });

document.addEventListener("keydown", (event) => {
  const typing = event.target instanceof HTMLInputElement && event.target.type === "number" || event.target instanceof HTMLSelectElement;
  const key = event.key.toLowerCase();
  const mod = event.ctrlKey || event.metaKey;
  if (mod && key === "z") { event.preventDefault(); event.shiftKey ? redo() : undo(); return; }
  if (mod && key === "y") { event.preventDefault(); redo(); return; }
  if (typing || mod || event.altKey) return;
  const actions = {
    b: () => setTool("brush"), e: () => setTool("eraser"),
    "[": () => setSize(Number(ui.size.value) - 5), "]": () => setSize(Number(ui.size.value) + 5),
    delete: clearMask, backspace: clearMask, enter: inpaint,
    c: () => ui.result.hidden || ui.toggle.click(), a: () => state.result && adoptResult(),
    d: () => state.result && ui.download.click(), o: () => ui.file.click(),
  };
  if (actions[key]) { event.preventDefault(); actions[key](); }
});

for (const target of [ui.stage, ui.drop]) {
  target.addEventListener("dragover", (event) => { event.preventDefault(); ui.stage.classList.add("over"); ui.drop.classList.add("over"); });
  target.addEventListener("dragleave", () => { ui.stage.classList.remove("over"); ui.drop.classList.remove("over"); });
  target.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.stage.classList.remove("over");
    ui.drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file && !state.busy) openPicture(file, file.name);
  });
}
document.addEventListener("paste", (event) => {
  const file = [...(event.clipboardData || {}).files || []].find((f) => f.type.startsWith("image/"));
  if (file && !state.busy) openPicture(file, file.name || "pasted.png");
});
window.addEventListener("resize", () => { ui.cursor.hidden = true; });

// ---------- the server ----------
async function connect() {
  try {
    const health = await fetch("api/v1/health").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`health answered ${r.status}`))));
    ui.server.textContent = `inpaintlab ${health.version} on ${health.device}`;
    const listing = await fetch("api/v1/models").then((r) => (r.ok ? r.json() : Promise.reject(new Error(`models answered ${r.status}`))));
    ui.model.textContent = "";
    const names = (listing.auto ? ["auto"] : []).concat(listing.models.map((m) => m.name));
    for (const name of names) {
      const entry = listing.models.find((m) => m.name === name);
      const option = new Option(entry ? `${name} (${entry.style}, ${entry.mask || "any"} masks)` : "auto (picks by picture and mask)", name);
      ui.model.add(option);
    }
    if (names.includes(listing.default)) ui.model.value = listing.default;
    if (!names.length) fail("The server has no inpainting models: run `inpaintlab models` on it to see why.");
  } catch (err) {
    ui.server.textContent = "not connected";
    fail(`Cannot talk to the inpaintlab server (${err.message}); start it with \`inpaintlab serve\` and reload.`);
  }
}

setSize(Number(ui.size.value));
updateButtons();
connect();
