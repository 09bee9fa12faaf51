"use strict";
// The drawing page: two stacked canvases (the grey sketch, and transparent colour hints), sent to
// POST /predict shortly after each stroke; at most one request in flight, the latest drawing wins.
const $ = (id) => document.getElementById(id);
const sketch = $("sketch"), hints = $("hints"), photo = $("photo"), status = $("status");
const ink = sketch.getContext("2d"), tint = hints.getContext("2d");
const state = { models: {}, history: [], last: null, busy: false, again: false, file: null, timer: 0, shown: 0 };

function say(text, error = false) {
  status.textContent = text;
  status.className = error ? "error" : "";
}

function resize(size) {  // keeps the drawing, scaled to the new size
  const copies = [sketch, hints].map((canvas) => {
    const copy = document.createElement("canvas");
    [copy.width, copy.height] = [canvas.width, canvas.height];
    copy.getContext("2d").drawImage(canvas, 0, 0);
    return copy;
  });
  for (const canvas of [sketch, hints]) canvas.width = canvas.height = size;
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, size, size);
  ink.drawImage(copies[0], 0, 0, size, size);
  tint.drawImage(copies[1], 0, 0, size, size);
}

function clear() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, sketch.width, sketch.height);
  tint.clearRect(0, 0, hints.width, hints.height);
}

function remember() {  // for undo: the two layers before a stroke
  const all = (ctx) => ctx.getImageData(0, 0, ctx.canvas.width, ctx.canvas.height);
  state.history.push([all(ink), all(tint)]);
  if (state.history.length > 50) state.history.shift();
}

function undo() {
  const layers = state.history.pop();
  if (!layers || layers[0].width !== sketch.width) return;
  ink.putImageData(layers[0], 0, 0);
  tint.putImageData(layers[1], 0, 0);
  schedule();
}

function where(event) {  // the pointer in canvas pixels
  const box = hints.getBoundingClientRect();
  return [(event.clientX - box.left) * hints.width / box.width, (event.clientY - box.top) * hints.height / box.height];
}

function line(ctx, from, to, width, colour, mode) {
  Object.assign(ctx, { lineWidth: width, lineCap: "round", lineJoin: "round", strokeStyle: colour,
                       globalCompositeOperation: mode });
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
  ctx.globalCompositeOperation = "source-over";
}

function draw(from, to, event) {
  const tool = document.querySelector("input[name=tool]:checked").value;
  const pressure = event.pointerType === "pen" ? 0.5 + event.pressure : 1;
  const width = Math.max(1, $("brush").value * sketch.width / 256 * pressure);
  if (tool === "pencil") line(ink, from, to, width, "#000", "source-over");
  if (tool === "hint") line(tint, from, to, width, $("colour").value, "source-over");
  if (tool === "eraser") {
    line(ink, from, to, width, "#fff", "source-over");
    line(tint, from, to, width, "#000", "destination-out");
  }
}

hints.addEventListener("pointerdown", (event) => {
  remember();
  hints.setPointerCapture(event.pointerId);
  state.last = where(event);
  draw(state.last, state.last, event);
});
hints.addEventListener("pointermove", (event) => {
  if (!state.last) return;
  const here = where(event);
  draw(state.last, here, event);
  state.last = here;
});
for (const type of ["pointerup", "pointercancel"]) {
  hints.addEventListener(type, () => {
    if (state.last) schedule();
    state.last = null;
  });
}

function schedule() {  // a request shortly after the stroke ends
  photo.dataset.pending = "true";
  clearTimeout(state.timer);
  state.timer = setTimeout(() => { state.timer = 0; send(); }, 120);
}

const blob = (canvas) => new Promise((done) => canvas.toBlob(done, "image/png"));

async function send(file = null) {
  if (state.busy) { state.again = true; state.file = file || state.file; return; }
  state.busy = true;
  const name = $("model").value, form = new FormData();
  form.append("model", name);
  form.append("sketch", file || await blob(sketch), "sketch.png");
  if (!file && state.models[name]?.hints) form.append("hints", await blob(hints), "hints.png");
  try {
    const answer = await fetch("predict", { method: "POST", body: form });
    if (!answer.ok) throw new Error((await answer.json()).error);
    show(await answer.blob(), answer.headers.get("X-Sketchback-Seconds"), name);
    if (file) await place(file);
  } catch (error) {
    say(error.message, true);
  } finally {
    state.busy = false;
    if (state.again) {  // what was drawn (or uploaded) meanwhile, in one request
      const next = state.file;
      Object.assign(state, { again: false, file: null });
      send(next);
    } else if (!state.timer) photo.dataset.pending = "false";
  }
}

function show(png, seconds, name) {
  URL.revokeObjectURL(photo.src);
  photo.src = URL.createObjectURL(png);
  photo.dataset.shown = ++state.shown;
  $("download").href = photo.src;
  $("download").setAttribute("aria-disabled", "false");
  say(`${name}: photo in ${Math.round(seconds * 1000)} ms on the server`);
}

async function place(file) {  // an uploaded sketch onto the canvas, fitted on white paper, to draw on
  const image = await createImageBitmap(file);
  const scale = Math.min(sketch.width / image.width, sketch.height / image.height);
  const [w, h] = [image.width * scale, image.height * scale];
  remember();
  clear();
  ink.drawImage(image, (sketch.width - w) / 2, (sketch.height - h) / 2, w, h);
}

function chooseModel() {
  const takes = state.models[$("model").value]?.hints;
  $("hint-tool").classList.toggle("off", !takes);
  $("hint-tool").querySelector("input[type=radio]").disabled = !takes;
  if (!takes && document.querySelector("input[name=tool]:checked").value === "hint") {
    document.querySelector("input[value=pencil]").checked = true;
  }
  if (state.shown) schedule();
}

async function start() {
  resize(Number($("size").value));
  const answer = await fetch("models");
  const { models } = await answer.json();
  for (const model of models) {
    state.models[model.name] = model;
    $("model").append(new Option(model.name + (model.hints ? " (colour hints)" : ""), model.name));
  }
  chooseModel();
  say("Draw with the mouse, a pen or a finger.");
}

$("model").addEventListener("change", chooseModel);
$("size").addEventListener("change", () => { resize(Number($("size").value)); state.history = []; schedule(); });
$("brush").addEventListener("input", () => { $("brush-size").value = $("brush").value; });
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => { remember(); clear(); schedule(); });
$("upload").addEventListener("change", () => { if ($("upload").files[0]) send($("upload").files[0]); });
start().catch((error) => say(`Cannot reach the server: ${error.message}`, true));
