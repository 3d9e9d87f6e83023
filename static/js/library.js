// Library pages: selection, copy prompt, confirmations and the full-screen viewer (arrows, Escape).
(function () {
  "use strict";

  function selection() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-select]"));
    var chosen = boxes.filter(function (box) { return box.checked; }).length;
    var count = document.querySelector("[data-selected-count]");
    if (count) count.textContent = chosen ? chosen + " selected" : "None selected";
    document.querySelectorAll("[data-needs-selection]").forEach(function (button) { button.disabled = !chosen; });
    var all = document.querySelector("[data-select-all]");
    if (all) all.checked = boxes.length > 0 && chosen === boxes.length;
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      document.querySelectorAll("input[data-select]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-select], [data-select-all]")) selection();
  });

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 1500);
      }, function () {});
    }
    var confirmer = event.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.dataset.confirm)) event.preventDefault();
  });

  // The viewer: a click on a [data-viewer] link opens it full screen; ← → browse the page's images.
  var viewer, links = [], at = -1;

  function show(index) {
    if (index < 0 || index >= links.length) return;
    at = index;
    var link = links[at], video = /^video\//.test(link.dataset.type || "");
    var image = viewer.querySelector("[data-viewer-image]"), clip = viewer.querySelector("[data-viewer-video]");
    image.hidden = video;
    clip.hidden = !video;
    if (video) { clip.src = link.dataset.src; image.removeAttribute("src"); } else { clip.pause(); clip.removeAttribute("src"); image.src = link.dataset.src; image.alt = link.dataset.caption || ""; }
    viewer.querySelector("[data-viewer-caption]").textContent = link.dataset.caption || "";
    viewer.querySelector("[data-viewer-count]").textContent = links.length > 1 ? (at + 1) + " / " + links.length : "";
    viewer.querySelector("[data-viewer-open]").href = link.getAttribute("href");
    viewer.querySelector("[data-viewer-download]").href = link.dataset.download || link.dataset.src;
    viewer.querySelector("[data-viewer-prev]").disabled = at === 0;
    viewer.querySelector("[data-viewer-next]").disabled = at === links.length - 1;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-viewer]");
    viewer = document.getElementById("viewer");
    if (!link || !viewer || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    links = Array.prototype.slice.call(document.querySelectorAll("a[data-viewer]"));
    show(links.indexOf(link));
    if (!viewer.open) viewer.showModal();
    viewer.querySelector("[data-viewer-close]").focus();
  });

  document.addEventListener("click", function (event) {
    if (!viewer || !viewer.open) return;
    if (event.target.closest("[data-viewer-prev]")) show(at - 1);
    else if (event.target.closest("[data-viewer-next]")) show(at + 1);
    else if (event.target.closest("[data-viewer-close]")) viewer.close();
  });

  document.addEventListener("keydown", function (event) {
    if (!viewer || !viewer.open) return;
    if (event.key === "ArrowRight") { event.preventDefault(); show(at + 1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); show(at - 1); }
  });

  document.addEventListener("close", function (event) {
    if (event.target.id !== "viewer") return;
    var clip = event.target.querySelector("[data-viewer-video]");
    if (clip) clip.pause();
    if (links[at]) links[at].focus();
  }, true);

  document.addEventListener("DOMContentLoaded", selection);
})();
