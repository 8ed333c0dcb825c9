// Airlock web UI: progressive enhancement only. Every page works without this script (forms post,
// links navigate, a running deploy's page refreshes itself from a <noscript> meta refresh). Served from
// /ui/airlock.js: the Content-Security-Policy allows scripts from this origin only, none inline.
(function () {
  "use strict";

  // 1. Live progress: a running deploy's page follows its Server-Sent Events (…/deploys/{N}/events),
  //    appends each step to the role="status" region, and reloads when the deploy ends.
  function followDeploy(region) {
    if (!window.EventSource) { return; }
    var steps = region.querySelector("ol.steps");
    var message = region.querySelector("[data-status-message]");
    var seen = steps ? steps.children.length : 0;
    var source = new EventSource(region.getAttribute("data-events"));
    var reloading = false;
    function reload(delay) {
      if (reloading) { return; }
      reloading = true;
      source.close();
      window.setTimeout(function () { window.location.reload(); }, delay);
    }
    source.addEventListener("step", function (event) {
      var position = parseInt(event.lastEventId, 10);
      if (position && position <= seen) { return; } // already rendered by the server
      if (position) { seen = position; }
      var item = document.createElement("li");
      item.textContent = event.data;
      steps.appendChild(item);
    });
    source.addEventListener("status", function (event) {
      if (message) { message.textContent = event.data; }
    });
    source.addEventListener("end", function () { reload(0); });
    source.addEventListener("limit", function () { reload(0); });
    source.addEventListener("error", function () {
      // EventSource reconnects by itself; if it gave up, fall back to reloading as the no-script page does.
      if (source.readyState === EventSource.CLOSED) { reload(3000); }
    });
    region.setAttribute("data-live", "connected");
    var note = region.querySelector("[data-refresh-note]");
    if (note) { note.textContent = "Steps appear here as they happen; the page reloads when the deploy ends."; }
  }

  // 2. The rollback confirmation: its own page (…/deploys/{N}/rollback), opened as a modal <dialog> over
  //    the page it was linked from. The URL follows (Back closes it), focus starts on Cancel (the safe
  //    choice), Esc closes it, and focus returns to the link. The form inside posts as on the page.
  var openDialog = null;

  function openRollback(link) {
    var href = link.getAttribute("href");
    fetch(href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var main = page.querySelector("main");
        if (!main || !main.querySelector("#rollback-title")) { throw new Error("not a rollback page"); }
        var dialog = document.createElement("dialog");
        dialog.className = "rollback-dialog";
        dialog.setAttribute("role", "alertdialog");
        dialog.setAttribute("aria-labelledby", "rollback-title");
        if (main.querySelector("#rollback-consequences")) { dialog.setAttribute("aria-describedby", "rollback-consequences"); }
        var crumbs = main.querySelector(".crumbs");
        if (crumbs) { crumbs.remove(); }
        while (main.firstChild) { dialog.appendChild(document.importNode(main.firstChild, true)); main.removeChild(main.firstChild); }
        var cancel = dialog.querySelector("[data-cancel]");
        if (!cancel) {
          cancel = document.createElement("button");
          cancel.type = "button";
          cancel.textContent = "Close";
          cancel.setAttribute("data-cancel", "");
          var actions = document.createElement("p");
          actions.className = "actions";
          actions.appendChild(cancel);
          dialog.appendChild(actions);
        }
        cancel.addEventListener("click", function (event) { event.preventDefault(); dialog.close(); });
        dialog.addEventListener("close", function () {
          dialog.remove();
          openDialog = null;
          if (window.history.state && window.history.state.airlockRollback) { window.history.back(); }
          link.focus();
        });
        document.body.appendChild(dialog);
        openDialog = dialog;
        window.history.pushState({ airlockRollback: true }, "", href);
        dialog.showModal();
        // Focus on the safe button without scrolling to it: the dialog opens at its top, on the warning.
        cancel.focus({ preventScroll: true });
        dialog.scrollTop = 0;
      })
      .catch(function () { window.location.assign(href); });
  }

  window.addEventListener("popstate", function () {
    if (openDialog && !(window.history.state && window.history.state.airlockRollback)) { openDialog.close(); }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[href$='/rollback']") : null;
    if (!link || !window.HTMLDialogElement || openDialog) { return; }
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) { return; } // new tab: the page
    if (document.getElementById("rollback-title")) { return; } // already on a rollback page
    event.preventDefault();
    openRollback(link);
  });

  function start() {
    var region = document.querySelector("[data-events]");
    if (region) { followDeploy(region); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
