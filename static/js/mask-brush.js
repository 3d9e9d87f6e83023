// Darkroom's mask brush: paint a mask over a photo and save it as a PNG the photo's exact size.
//
// The canvas has the photo's natural width and height and is scaled by CSS to sit exactly over
// the <img>, so one canvas pixel is one photo pixel. Strokes are drawn opaque in red on that
// layer (made translucent by CSS, so overlapping strokes do not darken); saving turns the layer
// into white-on-black. History is a list of operations (strokes, clear, invert) replayed from
// blank on undo, so undo costs no full-size snapshots.
(function () {
  "use strict";

  var root = document.querySelector("[data-mask-brush]");
  if (!root) return;

  var TINT = "rgb(255, 56, 96)";  // a quick-mask red: rare in photos, so strokes stand out
  var canvas = root.querySelector("#mask-canvas");
  var ctx = canvas.getContext("2d");
  var stage = root.querySelector("[data-stage]");
  var cursor = root.querySelector("[data-cursor]");
  var sizeInput = root.querySelector("[data-brush-size]");
  var sizeOut = root.querySelector("[data-brush-size-out]");
  var statusEl = root.querySelector("[data-mask-status]");
  var list = root.querySelector("[data-mask-list]");
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]");
  var buttons = {};
  root.querySelectorAll("[data-action]").forEach(function (b) { buttons[b.dataset.action] = b; });
  var toolButtons = root.querySelectorAll("[data-tool]");

  var W = canvas.width, H = canvas.height;
  var tool = "paint";
  var history = [];
  var redoStack = [];
  var stroke = null;
  var saving = false;

  // ---------------------------------------------------------------- drawing

  function pen(c, op) {
    c.globalCompositeOperation = op.tool === "erase" ? "destination-out" : "source-over";
    c.strokeStyle = TINT;
    c.fillStyle = TINT;
    c.lineWidth = op.size;
    c.lineCap = "round";
    c.lineJoin = "round";
  }

  function dot(c, op, p) {
    c.save(); pen(c, op);
    c.beginPath(); c.arc(p.x, p.y, op.size / 2, 0, Math.PI * 2); c.fill();
    c.restore();
  }

  function segment(c, op, a, b) {
    c.save(); pen(c, op);
    c.beginPath(); c.moveTo(a.x, a.y); c.lineTo(b.x, b.y); c.stroke();
    c.restore();
  }

  function drawStroke(c, op) {
    var p = op.points;
    dot(c, op, p[0]);
    if (p.length < 2) return;
    c.save(); pen(c, op);
    c.beginPath(); c.moveTo(p[0].x, p[0].y);
    for (var i = 1; i < p.length; i++) c.lineTo(p[i].x, p[i].y);
    c.stroke();
    c.restore();
  }

  function blank(w, h) {
    var el = document.createElement("canvas");
    el.width = w; el.height = h;
    return el;
  }

  function invert(c) {
    // New alpha = 1 - old alpha: a full sheet of tint with the current layer cut out of it.
    var sheet = blank(W, H), s = sheet.getContext("2d");
    s.fillStyle = TINT; s.fillRect(0, 0, W, H);
    s.globalCompositeOperation = "destination-out";
    s.drawImage(c.canvas, 0, 0);
    c.clearRect(0, 0, W, H);
    c.drawImage(sheet, 0, 0);
  }

  function apply(c, op) {
    if (op.type === "stroke") drawStroke(c, op);
    else if (op.type === "clear") c.clearRect(0, 0, W, H);
    else if (op.type === "invert") invert(c);
  }

  function replay() {
    ctx.clearRect(0, 0, W, H);
    history.forEach(function (op) { apply(ctx, op); });
  }

  function commit(op, alreadyDrawn) {
    if (!alreadyDrawn) apply(ctx, op);
    history.push(op);
    redoStack = [];
    refresh();
  }

  function undo() {
    if (!history.length) return;
    redoStack.push(history.pop());
    replay(); refresh();
  }

  function redo() {
    if (!redoStack.length) return;
    var op = redoStack.pop();
    history.push(op); apply(ctx, op); refresh();
  }

  function refresh() {
    buttons.undo.disabled = !history.length;
    buttons.redo.disabled = !redoStack.length;
  }

  // ---------------------------------------------------------------- pointer

  function toCanvas(event) {
    var r = canvas.getBoundingClientRect();
    return { x: (event.clientX - r.left) * W / r.width, y: (event.clientY - r.top) * H / r.height };
  }

  function brushSize() { return Math.max(1, Number(sizeInput.value) || 1); }

  function moveCursor(event) {
    var r = canvas.getBoundingClientRect();
    var px = brushSize() * r.width / W;
    cursor.hidden = false;
    cursor.style.width = cursor.style.height = px + "px";
    cursor.style.left = (event.clientX - r.left) + "px";
    cursor.style.top = (event.clientY - r.top) + "px";
    cursor.classList.toggle("erasing", tool === "erase");
  }

  canvas.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || saving) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    stroke = { type: "stroke", tool: tool, size: brushSize(), points: [toCanvas(event)] };
    dot(ctx, stroke, stroke.points[0]);
  });

  canvas.addEventListener("pointermove", function (event) {
    moveCursor(event);
    if (!stroke) return;
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    (events.length ? events : [event]).forEach(function (e) {
      var p = toCanvas(e), last = stroke.points[stroke.points.length - 1];
      if (Math.abs(p.x - last.x) + Math.abs(p.y - last.y) < 0.5) return;
      segment(ctx, stroke, last, p);
      stroke.points.push(p);
    });
  });

  function endStroke() {
    if (!stroke) return;
    commit(stroke, true);
    stroke = null;
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  canvas.addEventListener("pointerleave", function () { cursor.hidden = true; });

  // ---------------------------------------------------------------- controls

  function setTool(name) {
    tool = name;
    toolButtons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.tool === name)); });
    stage.classList.toggle("erasing", name === "erase");
  }

  function setSize(value) {
    var min = Number(sizeInput.min), max = Number(sizeInput.max);
    sizeInput.value = String(Math.round(Math.min(max, Math.max(min, value))));
    sizeOut.textContent = sizeInput.value + " px";
  }

  toolButtons.forEach(function (b) { b.addEventListener("click", function () { setTool(b.dataset.tool); }); });
  sizeInput.addEventListener("input", function () { setSize(sizeInput.value); });
  buttons.undo.addEventListener("click", undo);
  buttons.redo.addEventListener("click", redo);
  buttons.invert.addEventListener("click", function () { commit({ type: "invert" }); });
  buttons.clear.addEventListener("click", function () { if (history.length) commit({ type: "clear" }); });
  buttons.save.addEventListener("click", save);

  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (t && (t.isContentEditable || /^(TEXTAREA|SELECT)$/.test(t.tagName) ||
        (t.tagName === "INPUT" && t.type !== "range"))) return;
    var key = event.key, mod = event.ctrlKey || event.metaKey;
    if (mod && (key === "z" || key === "Z")) { event.preventDefault(); if (event.shiftKey) redo(); else undo(); }
    else if (mod && (key === "y" || key === "Y")) { event.preventDefault(); redo(); }
    else if (mod && (key === "s" || key === "S")) { event.preventDefault(); save(); }
    else if (mod || event.altKey) return;
    else if (key === "b" || key === "B") setTool("paint");
    else if (key === "e" || key === "E") setTool("erase");
    else if (key === "[") { event.preventDefault(); setSize(brushSize() / 1.25); }
    else if (key === "]") { event.preventDefault(); setSize(Math.max(brushSize() + 1, brushSize() * 1.25)); }
    else if (key === "i" || key === "I") commit({ type: "invert" });
    else if ((key === "Delete" || key === "Backspace") && event.shiftKey) { event.preventDefault(); if (history.length) commit({ type: "clear" }); }
  });

  // ---------------------------------------------------------------- saving

  function say(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  function isEmpty() {
    // A reduced copy is enough to tell whether anything is painted.
    var probe = blank(Math.min(W, 256), Math.min(H, 256)), p = probe.getContext("2d");
    p.drawImage(canvas, 0, 0, probe.width, probe.height);
    var data = p.getImageData(0, 0, probe.width, probe.height).data;
    for (var i = 3; i < data.length; i += 4) if (data[i]) return false;
    return true;
  }

  function exportMask(done) {
    var white = blank(W, H), w = white.getContext("2d");
    w.drawImage(canvas, 0, 0);
    w.globalCompositeOperation = "source-in";
    w.fillStyle = "#fff"; w.fillRect(0, 0, W, H);
    var out = blank(W, H), o = out.getContext("2d");
    o.fillStyle = "#000"; o.fillRect(0, 0, W, H);
    o.drawImage(white, 0, 0);
    out.toBlob(done, "image/png");
  }

  function save() {
    if (saving) return;
    if (isEmpty()) { say("Paint the area to change before saving the mask.", true); return; }
    saving = true;
    buttons.save.disabled = true;
    root.setAttribute("aria-busy", "true");
    say("Saving the mask…");
    exportMask(function (blob) {
      var body = new FormData();
      body.append("file", blob, "mask.png");
      fetch(root.dataset.saveUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf ? csrf.value : "", "Accept": "text/html" }
      }).then(function (response) {
        return response.text().then(function (html) { return { ok: response.ok, html: html }; });
      }).then(function (result) {
        var template = document.createElement("template");
        template.innerHTML = result.html.trim();
        var error = template.content.querySelector("[data-mask-error]");
        if (!result.ok || error) { say(error ? error.textContent : "The mask could not be saved.", true); return; }
        var empty = list.querySelector("[data-mask-empty]");
        if (empty) empty.remove();
        list.prepend(template.content);
        say("Mask saved (" + W + "×" + H + ").");
        root.dispatchEvent(new CustomEvent("darkroom:mask-saved", { bubbles: true }));
      }).catch(function () {
        say("The mask could not be saved: the connection failed. Try again.", true);
      }).finally(function () {
        saving = false;
        buttons.save.disabled = false;
        root.removeAttribute("aria-busy");
      });
    });
  }

  setSize(sizeInput.value);
  refresh();
})();
