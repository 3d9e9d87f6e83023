// Darkroom's small front-end glue: the live-event extension and keyboard shortcuts.
(function () {
  "use strict";

  // Live messages are JSON: {type, data, html}. Browsers swap the HTML out of band; a message
  // older than what the page already shows (lower data-revision) is dropped.
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
        if (current && Number(current.dataset.revision) > Number(incoming.dataset.revision)) incoming.remove();
      });
      return template.innerHTML;
    }
  });

  // After a reconnect, cards still in progress re-render from the database.
  var opened = 0;
  document.addEventListener("htmx:wsOpen", function () {
    if (opened++ > 0) htmx.trigger(document.body, "live-resync");
  });

  // Ctrl/Cmd + Enter submits the generate form from the prompt.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "id_prompt") {
      event.preventDefault();
      var form = event.target.form;
      if (form) form.requestSubmit();
    }
  });
})();
