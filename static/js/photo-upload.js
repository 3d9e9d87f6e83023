// The photo upload form: drag and drop onto the drop zone, or the ordinary file input (which
// works by keyboard and without this script). Either way the chosen photo is previewed before
// it is sent. The server checks everything again; this only saves a wasted upload.
(function () {
  "use strict";

  var form = document.querySelector("[data-upload-form]");
  if (!form) return;
  var zone = form.querySelector("[data-dropzone]");
  var input = form.querySelector("input[type=file]");
  var preview = form.querySelector("[data-preview]");
  var info = form.querySelector("[data-file-info]");
  var maxBytes = Number(form.dataset.maxBytes) || 0;
  var TYPES = /^image\/(jpeg|png|webp)$/;
  var objectUrl = null;

  function human(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function problem(file) {
    if (!file) return "";
    if (file.type && !TYPES.test(file.type)) return "This is not a JPEG, PNG or WebP image.";
    if (maxBytes && file.size > maxBytes) return "This file is " + human(file.size) + "; the limit is " + human(maxBytes) + ".";
    return "";
  }

  function show(file) {
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = null;
    zone.classList.remove("has-preview", "invalid");
    preview.hidden = true;
    if (!file) { info.textContent = ""; return; }
    var error = problem(file);
    info.textContent = file.name + " · " + human(file.size) + (error ? " — " + error : "");
    zone.classList.toggle("invalid", !!error);
    if (!error) {
      objectUrl = URL.createObjectURL(file);
      preview.src = objectUrl;
      preview.hidden = false;
      zone.classList.add("has-preview");
    }
  }

  input.addEventListener("change", function () { show(input.files[0]); });

  zone.addEventListener("click", function () { input.click(); });
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    var file = event.dataTransfer.files && event.dataTransfer.files[0];
    if (!file) return;
    var transfer = new DataTransfer();
    transfer.items.add(file);
    input.files = transfer.files;
    show(file);
    input.focus();
  });
  // A file dropped beside the zone must not make the browser navigate away to it.
  ["dragover", "drop"].forEach(function (name) {
    window.addEventListener(name, function (event) {
      if (!zone.contains(event.target)) event.preventDefault();
    });
  });

  var submit = form.querySelector("button[type=submit]");
  var submitLabel = submit.textContent;
  // Coming back with the browser's back button shows the form ready again.
  window.addEventListener("pageshow", function () { submit.disabled = false; submit.textContent = submitLabel; });

  form.addEventListener("submit", function (event) {
    var error = problem(input.files[0]);
    if (error) {
      event.preventDefault();
      info.textContent = error;
      zone.classList.add("invalid");
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
  });
})();
