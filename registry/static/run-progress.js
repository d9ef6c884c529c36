// A scenario run's progress, updated in place (WCAG 2.2.1: the page never reloads itself).
//
// Polls the run's status.json with a growing, bounded interval; writes the figures into
// the progress list and the polite live region (announced when the stage or the count of
// categories changes, or every 20 s); when the run has finished, fetches the page once and
// swaps in its body, announces the end and moves focus to the results only if the reader
// was at the progress section. Without JavaScript the "Refresh status" link does the same.
(function () {
  "use strict";
  var section = document.getElementById("run-progress");
  var live = document.getElementById("run-progress-live");
  var body = document.getElementById("run-body");
  if (!section || !live || !body || !window.fetch) { return; }

  var statusUrl = section.getAttribute("data-status-url");
  var pageUrl = section.getAttribute("data-page-url");
  var FIRST_MS = 1000, MAX_MS = 10000, GROWTH = 1.5, GIVE_UP_MS = 2 * 60 * 60 * 1000;
  var ANNOUNCE_EVERY_MS = 20000;
  var delay = FIRST_MS, began = Date.now(), lastKey = null, lastSaid = 0;

  function show(status) {
    var fields = section.querySelectorAll("[data-progress]");
    for (var i = 0; i < fields.length; i++) {
      var name = fields[i].getAttribute("data-progress");
      if (status[name] !== undefined) { fields[i].textContent = String(status[name]); }
    }
    var key = status.stage + ":" + status.categories_done + "/" + status.categories_total;
    var now = Date.now();
    if (key !== lastKey || now - lastSaid >= ANNOUNCE_EVERY_MS) {
      live.textContent = status.text;
      lastKey = key;
      lastSaid = now;
    }
  }

  function finish(status) {
    var hadFocus = section.contains(document.activeElement) ||
      document.activeElement === document.body || document.activeElement === null;
    fetch(pageUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run-body");
        if (!fresh) { throw new Error("no run body"); }
        body.replaceChildren.apply(body, Array.prototype.map.call(
          fresh.childNodes, function (node) { return document.importNode(node, true); }));
        live.className = "sr-only";
        live.textContent = status.text;
        if (hadFocus) {
          var target = document.getElementById("summary-head") ||
            document.getElementById("run-end-head") || body.querySelector("h2");
          if (target) {
            if (!target.hasAttribute("tabindex")) { target.setAttribute("tabindex", "-1"); }
            target.focus();
          }
        }
      })
      .catch(function () { window.location.assign(pageUrl); });  // navigate once instead
  }

  function poll() {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (status) {
        if (status.finished) { finish(status); return; }
        show(status);
        schedule();
      })
      .catch(schedule);  // a lost poll is retried later; the refresh link always works
  }

  function schedule() {
    if (Date.now() - began > GIVE_UP_MS) { return; }
    window.setTimeout(poll, delay);
    delay = Math.min(MAX_MS, delay * GROWTH);
  }

  schedule();
})();
