// The run page: live cards arrive over the websocket (darkroom.js swaps them by revision). Steps
// can finish between the page's render and the socket opening, so once it first opens, every card
// still in progress re-renders from the database (later reconnects: darkroom.js). The short delay
// lets htmx finish wiring the cards' triggers when the socket opens very fast (loopback).
(function () {
  "use strict";
  document.addEventListener("htmx:wsOpen", function () {
    setTimeout(function () { htmx.trigger(document.body, "live-resync"); }, 100);
  }, { once: true });
})();
