// The workflow builder: a Drawflow canvas (static/vendor/drawflow, pinned), a palette of node
// types, an inspector whose form is generated from each type's parameter schema, save as a new
// version (validated on the server; errors land on their nodes), and JSON import/export.
//
// Graph format (what is saved and exported): {nodes: [{id, type, label, params, retry,
// fallback_models, position: {x, y}}], edges: [{from, from_port, to, to_port}]}. Drawflow numbers
// its nodes and ports; our ids and port names live in each node's data and in the type schema.
(function () {
  "use strict";

  var root = document.getElementById("wf-builder");
  if (!root || typeof Drawflow === "undefined") return;

  var TYPES = JSON.parse(document.getElementById("wf-node-types").textContent);
  var INITIAL = JSON.parse(document.getElementById("wf-graph").textContent);
  var typeByKey = {};
  TYPES.forEach(function (t) { typeByKey[t.key] = t; });

  var container = document.getElementById("drawflow");
  var editor = new Drawflow(container);
  editor.reroute = false;
  editor.zoom_min = 0.3;
  editor.zoom_max = 1.6;
  editor.start();
  var NODE_W = 200, NODE_H = 110; // a typical step's box, for placing new ones

  // Zoom about a point of the view (its centre by default). The canvas is scaled from its top left
  // corner (workflows.css), so a point p shows at translate + zoom × p.
  function zoomTo(value, atX, atY) {
    var z = Math.min(editor.zoom_max, Math.max(editor.zoom_min, value));
    var box = container.getBoundingClientRect();
    var sx = atX === undefined ? box.width / 2 : atX, sy = atY === undefined ? box.height / 2 : atY;
    var px = (sx - editor.canvas_x) / editor.zoom, py = (sy - editor.canvas_y) / editor.zoom;
    place(z, sx - z * px, sy - z * py);
  }

  function place(z, x, y) {
    editor.zoom = z;
    editor.zoom_last_value = z;
    editor.canvas_x = x;
    editor.canvas_y = y;
    editor.precanvas.style.transform = "translate(" + x + "px, " + y + "px) scale(" + z + ")";
    var label = document.getElementById("wf-zoom-level");
    if (label) label.textContent = Math.round(z * 100) + "%";
  }

  // Every step in view, as large as fits (never above 100 %), centred.
  function fitView() {
    var boxes = nodeBoxes();
    var box = container.getBoundingClientRect();
    if (!boxes.length || !box.width) { place(1, 0, 0); return; }
    var minX = Math.min.apply(null, boxes.map(function (b) { return b.x; }));
    var minY = Math.min.apply(null, boxes.map(function (b) { return b.y; }));
    var maxX = Math.max.apply(null, boxes.map(function (b) { return b.x + b.width; }));
    var maxY = Math.max.apply(null, boxes.map(function (b) { return b.y + b.height; }));
    var pad = 32;
    var z = Math.min(1, (box.width - 2 * pad) / (maxX - minX), (box.height - 2 * pad) / (maxY - minY));
    z = Math.max(editor.zoom_min, z);
    place(z, (box.width - z * (maxX - minX)) / 2 - z * minX, (box.height - z * (maxY - minY)) / 2 - z * minY);
  }
  editor.on("zoom", function (z) {
    var label = document.getElementById("wf-zoom-level");
    if (label) label.textContent = Math.round(z * 100) + "%";
  });
  document.getElementById("wf-zoom-in").addEventListener("click", function () { zoomTo(editor.zoom * 1.2); });
  document.getElementById("wf-zoom-out").addEventListener("click", function () { zoomTo(editor.zoom / 1.2); });
  document.getElementById("wf-zoom-fit").addEventListener("click", fitView);
  container.addEventListener("keydown", function (event) {
    if (event.target !== container) return;
    if (event.key === "+" || event.key === "=") { zoomTo(editor.zoom * 1.2); event.preventDefault(); }
    else if (event.key === "-") { zoomTo(editor.zoom / 1.2); event.preventDefault(); }
    else if (event.key === "0") { fitView(); event.preventDefault(); }
  });

  var statusEl = document.getElementById("wf-status");
  var errorsEl = document.getElementById("wf-errors");
  var inspector = document.getElementById("wf-inspector-body");
  var errorsByNode = {}; // our node id → [{field, message}]
  var selected = null; // Drawflow id
  var dirty = false;
  var loading = false; // drawing a stored or imported graph is not a change
  var versionEl = document.getElementById("wf-version");

  function status(text, kind) {
    statusEl.textContent = text;
    statusEl.className = "wf-status" + (kind ? " " + kind : "");
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // ------------------------------------------------------------ nodes on the canvas

  function defaults(type) {
    var params = {};
    type.fields.forEach(function (f) { if (f.default !== null && f.default !== undefined) params[f.name] = f.default; });
    return params;
  }

  function allNodes() {
    var data = editor.export().drawflow.Home.data;
    return Object.keys(data).map(function (id) { return data[id]; });
  }

  function nextId(typeKey) {
    var taken = {};
    allNodes().forEach(function (n) { taken[n.data._id] = true; });
    var base = typeKey.replace(/^input_/, "").replace(/[^A-Za-z0-9_-]/g, "_");
    if (!/^[A-Za-z]/.test(base)) base = "n" + base;
    if (!taken[base]) return base;
    for (var i = 2; ; i++) if (!taken[base + "_" + i]) return base + "_" + i;
  }

  // The step's name and type, then one row per port level: each input's name beside its circle on
  // the left, each output's beside its circle on the right (Drawflow stacks the circles at the
  // bottom of the node, one row apart; the rows below line up with them).
  function nodeHtml(type, data) {
    var rows = Math.max(type.inputs.length, type.outputs.length);
    var ports = "";
    for (var r = 0; r < rows; r++) {
      var input = type.inputs[r - (rows - type.inputs.length)];
      var output = type.outputs[r - (rows - type.outputs.length)];
      ports += '<div class="wf-df-port-row"><span class="wf-df-in">' + (input ? escapeHtml(input.label) +
        (input.required ? "" : ' <span class="wf-df-optional">(optional)</span>') : "") + '</span><span class="wf-df-out">' +
        (output ? escapeHtml(output.label) : "") + "</span></div>";
    }
    return '<div class="wf-df-node"><strong class="wf-df-label">' + escapeHtml(data._label || type.label) +
      '</strong><span class="wf-df-type">' + escapeHtml(type.label) + " · " + escapeHtml(data._id) + "</span>" +
      '<div class="wf-df-error" role="alert"></div><div class="wf-df-ports">' + ports + "</div></div>";
  }

  function decoratePorts(dfId, type) {
    var nodeEl = document.getElementById("node-" + dfId);
    if (!nodeEl) return;
    type.inputs.forEach(function (p, i) {
      var port = nodeEl.querySelector(".inputs .input_" + (i + 1));
      if (port) { port.dataset.type = p.type; port.dataset.port = p.name; port.title = "In: " + p.label + " (" + p.type + (p.required ? "" : ", optional") + ")"; }
    });
    type.outputs.forEach(function (p, i) {
      var port = nodeEl.querySelector(".outputs .output_" + (i + 1));
      if (port) { port.dataset.type = p.type; port.dataset.port = p.name; port.title = "Out: " + p.label + " (" + p.type + ")"; }
    });
    nodeEl.dataset.nodeId = editor.getNodeFromId(dfId).data._id;
  }

  function addNode(typeKey, spec, x, y) {
    var type = typeByKey[typeKey];
    if (!type) { status("This workflow uses a node type this server does not have: " + typeKey, "error"); return null; }
    spec = spec || {};
    var data = {
      _id: spec.id || nextId(typeKey),
      _label: spec.label || "",
      params: Object.assign(defaults(type), spec.params || {}),
      retry: spec.retry || { max_attempts: 1, backoff_seconds: 2 },
      fallback_models: spec.fallback_models || [],
    };
    var dfId = editor.addNode(typeKey, type.inputs.length, type.outputs.length, x, y, "wf-type-" + typeKey, data,
      nodeHtml(type, data));
    decoratePorts(dfId, type);
    return dfId;
  }

  function refreshNode(dfId) {
    var node = editor.getNodeFromId(dfId);
    var type = typeByKey[node.name];
    var nodeEl = document.getElementById("node-" + dfId);
    nodeEl.querySelector(".wf-df-label").textContent = node.data._label || type.label;
    var problems = errorsByNode[node.data._id] || [];
    nodeEl.classList.toggle("has-error", problems.length > 0);
    nodeEl.querySelector(".wf-df-error").textContent = problems.length ? problems[0].message : "";
  }

  function dfIdFor(ourId) {
    var found = allNodes().filter(function (n) { return n.data._id === ourId; })[0];
    return found ? String(found.id) : null;
  }

  // A connection must join ports of the same type, and a single input takes one connection.
  editor.on("connectionCreated", function (c) {
    var source = editor.getNodeFromId(c.output_id), target = editor.getNodeFromId(c.input_id);
    var outPort = typeByKey[source.name].outputs[Number(c.output_class.split("_")[1]) - 1];
    var inPort = typeByKey[target.name].inputs[Number(c.input_class.split("_")[1]) - 1];
    if (c.output_id === c.input_id || outPort.type !== inPort.type) {
      editor.removeSingleConnection(c.output_id, c.input_id, c.output_class, c.input_class);
      status("“" + inPort.label + "” takes " + inPort.type + "; “" + outPort.label + "” gives " + outPort.type + ".", "error");
      return;
    }
    if (!inPort.multiple) {
      (target.inputs[c.input_class].connections || []).slice().forEach(function (other) {
        if (other.node !== String(c.output_id) || other.input !== c.output_class) {
          editor.removeSingleConnection(other.node, c.input_id, other.input, c.input_class);
        }
      });
    }
    changed();
  });
  ["connectionRemoved", "nodeRemoved", "nodeMoved"].forEach(function (name) { editor.on(name, changed); });

  // A wire let go over a step but not on one of its input circles (steps overlap, a circle is
  // covered, or it was simply dropped on the body): attach it to the first free input of the
  // right type of the topmost step under the pointer, or say why it can't be attached.
  var dragging = null, cancelled = false;
  editor.on("connectionStart", function (c) { dragging = c; cancelled = false; });
  editor.on("connectionCancel", function () { cancelled = true; });
  editor.on("mouseUp", function (event) {
    var from = dragging, wasCancelled = cancelled;
    dragging = null;
    cancelled = false;
    if (!from || !wasCancelled) return;
    var point = event.changedTouches ? event.changedTouches[0] : event;
    if (!point || point.clientX === undefined) return;
    var source = editor.getNodeFromId(from.output_id);
    var outPort = typeByKey[source.name].outputs[Number(from.output_class.split("_")[1]) - 1];
    var seen = {}, candidates = [];
    document.elementsFromPoint(point.clientX, point.clientY).forEach(function (element) {
      var nodeEl = element.closest && element.closest(".drawflow-node");
      if (!nodeEl || seen[nodeEl.id]) return;
      seen[nodeEl.id] = true;
      var id = nodeEl.id.replace("node-", "");
      if (id !== String(from.output_id)) candidates.push(id);
    });
    if (!candidates.length) return;
    for (var i = 0; i < candidates.length; i++) {
      var target = editor.getNodeFromId(candidates[i]);
      var inputs = typeByKey[target.name].inputs;
      var fitting = inputs.map(function (p, index) { return { port: p, cls: "input_" + (index + 1) }; })
        .filter(function (entry) { return entry.port.type === outPort.type; });
      var free = fitting.filter(function (entry) { return !(target.inputs[entry.cls].connections || []).length; });
      var choice = free[0] || fitting[0];
      if (choice) {
        editor.addConnection(from.output_id, candidates[i], from.output_class, choice.cls);
        status("Connected “" + outPort.label + "” to “" + choice.port.label + "” of " + (target.data._label || typeByKey[target.name].label) + ".");
        return;
      }
    }
    var top = editor.getNodeFromId(candidates[0]);
    var topType = typeByKey[top.name];
    var takes = topType.inputs.map(function (p) { return p.label + " — " + p.type; }).join(", ");
    status((top.data._label || topType.label) + " has no input for " + outPort.type +
      (takes ? " (it takes: " + takes + ")." : " (it takes no inputs)."), "error");
  });
  editor.on("nodeRemoved", function (id) { if (String(id) === String(selected)) { selected = null; renderInspector(); } });
  editor.on("nodeSelected", function (id) { selected = String(id); renderInspector(); });
  editor.on("nodeUnselected", function () { selected = null; renderInspector(); });

  function changed() {
    if (loading) return;
    dirty = true;
    if (statusEl.className.indexOf("error") === -1) status("Unsaved changes.");
  }

  // ------------------------------------------------------------ inspector: forms from the schema

  function fieldInput(field, value, onChange) {
    var id = "wf-field-" + field.name;
    var input;
    if (field.kind === "choice" || field.kind === "model") {
      input = el("select", { id: id });
      if (!field.required && field.kind === "model") input.appendChild(el("option", { value: "", text: "—" }));
      field.choices.forEach(function (c) {
        var option = el("option", { value: String(c.value), text: c.label });
        if (String(c.value) === String(value)) option.selected = true;
        input.appendChild(option);
      });
      input.addEventListener("change", function () {
        var choice = field.choices.filter(function (c) { return String(c.value) === input.value; })[0];
        onChange(choice ? choice.value : input.value);
      });
    } else if (field.kind === "bool") {
      input = el("input", { id: id, type: "checkbox" });
      input.checked = !!value;
      input.addEventListener("change", function () { onChange(input.checked); });
    } else if (field.kind === "text") {
      input = el("textarea", { id: id, rows: 3 });
      input.value = value || "";
      input.addEventListener("input", function () { onChange(input.value); });
    } else if (field.kind === "colour") {
      input = el("input", { id: id, type: "color" });
      input.value = value || "#ffffff";
      input.addEventListener("input", function () { onChange(input.value); });
    } else if (field.kind === "int" || field.kind === "float") {
      input = el("input", { id: id, type: "number", min: field.min, max: field.max, step: field.kind === "int" ? 1 : "any" });
      input.value = value === null || value === undefined ? "" : value;
      input.addEventListener("input", function () {
        onChange(input.value === "" ? null : (field.kind === "int" ? parseInt(input.value, 10) : parseFloat(input.value)));
      });
    } else {
      input = el("input", { id: id, type: "text" });
      input.value = value || "";
      input.addEventListener("input", function () { onChange(input.value); });
    }
    return input;
  }

  function fieldBlock(field, value, problems, onChange) {
    var block = el("div", { class: "field" + (problems.length ? " invalid" : "") }, [
      el("label", { for: "wf-field-" + field.name, text: field.label + (field.required ? " *" : "") }),
      fieldInput(field, value, onChange),
    ]);
    if (field.help) block.appendChild(el("p", { class: "hint", text: field.help }));
    problems.forEach(function (p) { block.appendChild(el("p", { class: "field-error", text: p.message })); });
    return block;
  }

  function renderInspector() {
    inspector.innerHTML = "";
    if (!selected) {
      inspector.appendChild(el("p", { class: "hint", text: "Select a node to change its settings. Drag from an output (right) to an input (left) to connect; select a connection and press Delete to remove it." }));
      return;
    }
    var node = editor.getNodeFromId(selected);
    var type = typeByKey[node.name];
    var data = node.data;
    var problems = errorsByNode[data._id] || [];
    function save() { editor.updateNodeDataFromId(selected, data); refreshNode(selected); changed(); }
    function problemsFor(name) { return problems.filter(function (p) { return p.field === name; }); }

    inspector.appendChild(el("h3", { text: type.label }));
    inspector.appendChild(el("p", { class: "hint", text: type.description }));
    if (!type.available) inspector.appendChild(el("p", { class: "note", text: type.unavailable_reason }));
    problems.filter(function (p) { return !p.field || !type.fields.some(function (f) { return f.name === p.field; }); })
      .forEach(function (p) { inspector.appendChild(el("p", { class: "field-error", text: (p.field ? p.field + ": " : "") + p.message })); });
    inspector.appendChild(fieldBlock({ name: "_label", label: "Name", kind: "string", help: "Shown on the run page (" + data._id + ")." },
      data._label, [], function (v) { data._label = v; save(); }));

    var advanced = el("details", {}, [el("summary", { text: "Advanced" })]);
    type.fields.forEach(function (field) {
      var block = fieldBlock(field, data.params[field.name], problemsFor(field.name), function (v) {
        if (v === null || v === "") delete data.params[field.name]; else data.params[field.name] = v;
        save();
      });
      (field.advanced ? advanced : inspector).appendChild(block);
    });
    advanced.appendChild(fieldBlock({ name: "retry_attempts", label: "Attempts", kind: "int", min: 1, max: 5,
      help: "Tries per model before it fails (or moves to the next fallback)." },
      data.retry.max_attempts, problemsFor("retry.max_attempts"), function (v) { data.retry.max_attempts = v; save(); }));
    advanced.appendChild(fieldBlock({ name: "retry_backoff", label: "Backoff (s)", kind: "int", min: 0, max: 600,
      help: "Wait before the 2nd try; doubles after each." },
      data.retry.backoff_seconds, problemsFor("retry.backoff_seconds"), function (v) { data.retry.backoff_seconds = v; save(); }));
    if (type.uses_model) {
      var modelField = type.fields.filter(function (f) { return f.name === "model"; })[0];
      var select = el("select", { id: "wf-field-fallbacks", multiple: "multiple", size: 4 });
      modelField.choices.forEach(function (c) {
        var option = el("option", { value: c.value, text: c.label });
        option.selected = data.fallback_models.indexOf(c.value) !== -1;
        select.appendChild(option);
      });
      select.addEventListener("change", function () {
        data.fallback_models = Array.prototype.filter.call(select.options, function (o) { return o.selected; })
          .map(function (o) { return o.value; });
        save();
      });
      var block = el("div", { class: "field" }, [el("label", { for: "wf-field-fallbacks", text: "Fallback models" }), select,
        el("p", { class: "hint", text: "Tried in order if the model fails." })]);
      problemsFor("fallback_models").forEach(function (p) { block.appendChild(el("p", { class: "field-error", text: p.message })); });
      advanced.appendChild(block);
    }
    if (problems.some(function (p) { return p.field && p.field.indexOf("retry") === 0 || type.fields.some(function (f) { return f.advanced && f.name === p.field; }); })) advanced.open = true;
    inspector.appendChild(advanced);
  }

  // ------------------------------------------------------------ graph ⇄ editor

  function toGraph() {
    var nodes = allNodes();
    var byDf = {};
    nodes.forEach(function (n) { byDf[String(n.id)] = n; });
    var graph = { nodes: [], edges: [] };
    nodes.forEach(function (n) {
      graph.nodes.push({
        id: n.data._id, type: n.name, label: n.data._label || "", params: n.data.params,
        retry: n.data.retry, fallback_models: n.data.fallback_models,
        position: { x: Math.round(n.pos_x), y: Math.round(n.pos_y) },
      });
    });
    nodes.forEach(function (n) {
      var type = typeByKey[n.name];
      Object.keys(n.outputs).forEach(function (outClass) {
        var outPort = type.outputs[Number(outClass.split("_")[1]) - 1];
        n.outputs[outClass].connections.forEach(function (c) {
          var target = byDf[String(c.node)];
          var inPort = typeByKey[target.name].inputs[Number(c.output.split("_")[1]) - 1];
          graph.edges.push({ from: n.data._id, from_port: outPort.name, to: target.data._id, to_port: inPort.name });
        });
      });
    });
    return graph;
  }

  function load(graph) {
    loading = true;
    try { draw(graph); } finally { loading = false; }
    dirty = false;
    fitView();
  }

  function draw(graph) {
    editor.clear();
    errorsByNode = {};
    var ids = {};
    (graph.nodes || []).forEach(function (spec, index) {
      var pos = spec.position || {};
      var dfId = addNode(spec.type, spec, pos.x || 40 + 260 * (index % 4), pos.y || 40 + 180 * Math.floor(index / 4));
      if (dfId !== null) ids[spec.id] = dfId;
    });
    (graph.edges || []).forEach(function (e) {
      var source = ids[e.from], target = ids[e.to];
      if (!source || !target) return;
      var outIndex = typeByKey[editor.getNodeFromId(source).name].outputs.map(function (p) { return p.name; }).indexOf(e.from_port);
      var inIndex = typeByKey[editor.getNodeFromId(target).name].inputs.map(function (p) { return p.name; }).indexOf(e.to_port);
      if (outIndex >= 0 && inIndex >= 0) editor.addConnection(source, target, "output_" + (outIndex + 1), "input_" + (inIndex + 1));
    });
    selected = null;
    renderInspector();
    showErrors([]);
  }

  function showErrors(errors) {
    errorsByNode = {};
    errorsEl.innerHTML = "";
    errors.forEach(function (e) {
      var key = e.node || "";
      (errorsByNode[key] = errorsByNode[key] || []).push(e);
      errorsEl.appendChild(el("li", { text: (e.node ? e.node + ": " : "") + e.message }));
    });
    allNodes().forEach(function (n) { refreshNode(String(n.id)); });
    renderInspector();
  }

  // ------------------------------------------------------------ palette, save, import, export

  // The part of the canvas on screen, in canvas coordinates.
  function visibleArea() {
    var box = container.getBoundingClientRect(), pre = editor.precanvas.getBoundingClientRect();
    return { x: (box.left - pre.left) / editor.zoom, y: (box.top - pre.top) / editor.zoom,
      width: box.width / editor.zoom, height: box.height / editor.zoom };
  }

  function nodeBoxes() {
    return allNodes().map(function (n) {
      var nodeEl = document.getElementById("node-" + n.id);
      return { x: n.pos_x, y: n.pos_y, width: nodeEl ? nodeEl.offsetWidth : NODE_W, height: nodeEl ? nodeEl.offsetHeight : NODE_H };
    });
  }

  // A free spot for a new step inside the visible canvas: the first place on a grid (left to
  // right, top to bottom) that no step covers; when the view is full, a little below the last.
  function freeSpot() {
    var view = visibleArea(), boxes = nodeBoxes(), gap = 24;
    var cols = Math.max(1, Math.floor((view.width - gap) / (NODE_W + gap)));
    var rows = Math.max(1, Math.floor((view.height - gap) / (NODE_H + gap)));
    function free(spot) {
      return !boxes.some(function (b) {
        return spot.x < b.x + b.width + 8 && b.x < spot.x + spot.width + 8 && spot.y < b.y + b.height + 8 && b.y < spot.y + spot.height + 8;
      });
    }
    // In view first; when the view is full, the next free place below it (the view then zooms out
    // to show it: `overflow`).
    for (var r = 0; r < rows + 60; r++) {
      for (var c = 0; c < cols; c++) {
        var spot = { x: view.x + gap + c * (NODE_W + gap), y: view.y + gap + r * (NODE_H + gap), width: NODE_W, height: NODE_H };
        if (free(spot)) { spot.overflow = r >= rows; return spot; }
      }
    }
    return { x: view.x + gap, y: view.y + gap, overflow: false };
  }

  document.querySelectorAll("[data-add-node]").forEach(function (button) {
    button.addEventListener("click", function () {
      var spot = freeSpot();
      var dfId = addNode(button.dataset.addNode, null, spot.x, spot.y);
      if (spot.overflow) fitView();
      changed();
      if (dfId !== null) { selected = String(dfId); renderInspector(); }
    });
  });

  var csrf = document.querySelector("#wf-builder input[name=csrfmiddlewaretoken]").value;
  var nameInput = document.getElementById("wf-name");

  document.getElementById("wf-save").addEventListener("click", function () {
    var button = this;
    button.disabled = true;
    status("Saving…");
    fetch(root.dataset.saveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ name: nameInput.value, graph: toGraph(), starter: root.dataset.starter || undefined }),
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (result.ok) {
        showErrors([]);
        dirty = false;
        var note = result.body.unavailable.length ? " Note: " + result.body.unavailable.map(function (u) { return u.label + " — " + u.reason; }).join(" ") : "";
        status("Saved as version " + result.body.version + " · a run holds " + result.body.quote + " credits." + note, "ok");
        if (versionEl) versionEl.textContent = "Editing version " + result.body.version;
        var runLink = document.getElementById("wf-run-link");
        if (result.body.detail_url) runLink.href = result.body.detail_url;
        runLink.hidden = false;
        if (result.body.save_url) root.dataset.saveUrl = result.body.save_url;
        delete root.dataset.starter;
        if (result.body.builder_url && window.location.pathname !== result.body.builder_url) {
          window.history.replaceState(null, "", result.body.builder_url); // the draft is a workflow now
        }
      } else {
        showErrors(result.body.errors || []);
        status(result.body.detail || "Could not save.", "error");
      }
    }).catch(function () {
      status("Could not reach the server. Your changes are still here; try again.", "error");
    }).then(function () { button.disabled = false; });
  });

  document.getElementById("wf-export").addEventListener("click", function () {
    var text = JSON.stringify({ darkroom_workflow: 1, name: nameInput.value, graph: toGraph() }, null, 2);
    document.getElementById("wf-json").value = text;
    var link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })),
      download: (nameInput.value || "workflow").replace(/[^A-Za-z0-9_-]+/g, "-") + ".json" });
    document.body.appendChild(link);
    link.click();
    link.remove();
    status("Exported the graph as it is on the canvas.", "ok");
  });

  function importText(text) {
    var data;
    try { data = JSON.parse(text); } catch (e) { status("That is not JSON.", "error"); return; }
    var graph = data && data.graph ? data.graph : data;
    if (!graph || !Array.isArray(graph.nodes)) { status("That JSON has no list of nodes.", "error"); return; }
    load(graph);
    if (data.name && !nameInput.value) nameInput.value = data.name;
    dirty = true;
    status("Imported " + graph.nodes.length + " nodes. Save to keep them as a new version.", "ok");
  }

  document.getElementById("wf-import").addEventListener("click", function () {
    importText(document.getElementById("wf-json").value);
  });
  document.getElementById("wf-import-file").addEventListener("change", function () {
    var file = this.files[0];
    if (!file) return;
    file.text().then(function (text) { document.getElementById("wf-json").value = text; importText(text); });
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  load(INITIAL);
  window.darkroomBuilder = { editor: editor, toGraph: toGraph, load: load, showErrors: showErrors, fitView: fitView,
    zoomTo: zoomTo, visibleArea: visibleArea };
})();
