// Darkroom's small front-end glue: the live-event extension and keyboard shortcuts.
(function () {
  "use strict";

  // Live messages are JSON: {type, data, html}. Browsers swap the HTML out of band; a message
  // older than what the page already shows (lower data-revision) is dropped. A message for a
  // card not on the page yet (its submit response is still in flight) is kept until it lands.
  var pending = {};

  function newer(a, b) { return Number(a.dataset.revision) > Number(b.dataset.revision); }

  htmx.defineExtension("live", {
    transformResponse: function (text, xhr) {
      if (xhr) return text; // ordinary htmx responses pass through
      var message;
      try { message = JSON.parse(text); } catch (e) { return text; }
      document.dispatchEvent(new CustomEvent("darkroom:event", { detail: message }));
      var template = document.createElement("template");
      template.innerHTML = message.html || "";
      template.content.querySelectorAll("[data-revision][id]").forEach(function (incoming) {
        var current = document.getElementById(incoming.id);
        if (!current) {
          if (!pending[incoming.id] || newer(incoming, pending[incoming.id])) pending[incoming.id] = incoming;
          incoming.remove();
        } else if (newer(current, incoming)) {
          incoming.remove();
        }
      });
      return template.innerHTML;
    }
  });

  document.addEventListener("htmx:load", function (event) {
    var element = event.detail.elt;
    var later = element.id && pending[element.id];
    if (!later) return;
    delete pending[element.id];
    if (newer(later, element)) {
      later.removeAttribute("hx-swap-oob");
      element.replaceWith(later);
      htmx.process(later);
    }
  });

  // Parts of a page that only change when a job ends (charges, downloads) reload then.
  document.addEventListener("darkroom:event", function (event) {
    var message = event.detail;
    if (!message.data || !/^generation\.(succeeded|failed|canceled|rejected)$/.test(message.type)) return;
    var element = document.querySelector('[data-refresh-on-end="' + message.data.id + '"]');
    if (element) {
      htmx.ajax("GET", element.dataset.refreshUrl, { target: "#" + element.id, select: "#" + element.id, swap: "outerHTML" });
    }
  });

  // After a reconnect, cards still in progress re-render from the database.
  var opened = 0;
  document.addEventListener("htmx:wsOpen", function () {
    if (opened++ > 0) htmx.trigger(document.body, "live-resync");
  });

  // Secrets shown once (API keys, webhook signing secrets) select themselves on click, for copying.
  document.addEventListener("click", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-click]")) event.target.select();
  });

  // A Copy button copies the field named by data-copy and says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.dataset.copy);
    if (!field) return;
    function done() { button.textContent = "Copied"; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
    } else {
      field.select();
      if (document.execCommand("copy")) done();
    }
  });

  // Example prompts fill the prompt field, ready to edit or generate.
  document.addEventListener("click", function (event) {
    var example = event.target.closest && event.target.closest("[data-example-prompt]");
    var prompt = document.getElementById("id_prompt");
    if (!example || !prompt) return;
    prompt.value = example.dataset.examplePrompt;
    prompt.dispatchEvent(new Event("input", { bubbles: true }));
    prompt.focus();
  });

  // The menu button opens and closes the navigation on narrow screens.
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-nav-toggle]");
    if (!toggle) return;
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById(toggle.getAttribute("aria-controls")).classList.toggle("open", open);
  });

  // The account menu closes on Escape or a click elsewhere.
  function closeMenus(except) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest && event.target.closest("details.account-menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  // The Size labels follow the aspect ratio picked (each option carries its size per ratio).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name !== "aspect_ratio" || !target.form) return;
    target.form.querySelectorAll("select[name=tier] option[data-sizes]").forEach(function (option) {
      var size = JSON.parse(option.dataset.sizes)[target.value];
      if (size) option.textContent = option.textContent.replace(/\d+×\d+/, size);
    });
  });

  // A highlighted field that the person has fixed stops being highlighted; the banner goes with
  // the last one. The server checks everything again on submit.
  function clearFixed(event) {
    var control = event.target;
    var field = control.closest && control.closest(".field.invalid[data-field]");
    if (!field || !control.checkValidity || !control.checkValidity()) return;
    if (control.required && !control.value.trim()) return;
    var form = field.closest("form");
    field.classList.remove("invalid");
    field.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    form.querySelectorAll('.field-errors li[data-field="' + field.dataset.field + '"]').forEach(function (li) { li.remove(); });
    form.querySelectorAll(".field-errors:not(:has(li))").forEach(function (list) { list.remove(); });
    if (!form.querySelector(".field.invalid")) {
      form.querySelectorAll("[data-field-banner]").forEach(function (banner) { banner.remove(); });
    }
  }
  document.addEventListener("input", clearFixed);
  document.addEventListener("change", clearFixed);

  // Ctrl/Cmd + Enter submits the generate form from the prompt.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "id_prompt") {
      event.preventDefault();
      var form = event.target.form;
      if (form) form.requestSubmit();
    }
  });

  // Once an image is in, its blurred placeholder goes and a checkerboard shows through any
  // transparency (a cut-out, a PNG with alpha); an opaque image covers the checkerboard entirely.
  function markLoaded(img) {
    if (!img.complete || !img.naturalWidth) return;
    img.classList.add("is-loaded");
    var frame = img.closest(".blur-frame");
    if (frame) frame.classList.add("is-loaded");
  }
  function markAll(root) {
    if (root.tagName === "IMG") markLoaded(root);
    if (root.querySelectorAll) root.querySelectorAll("img").forEach(markLoaded);
  }
  document.addEventListener("load", function (event) {
    if (event.target.tagName === "IMG") markLoaded(event.target);
  }, true);
  document.addEventListener("htmx:load", function (event) { markAll(event.detail.elt); });
  markAll(document);
})();
