// Refreshes the dashboard's figures every 30 s from /admin/dashboard.json,
// while the tab is visible. Without JavaScript the page shows the figures
// as they were when it was loaded.
(function () {
  "use strict";
  var root = document.querySelector("[data-dashboard]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-dashboard");
  var stamp = root.querySelector("[data-refreshed]");
  function refresh() {
    if (document.visibilityState !== "visible") return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (figures) {
        if (!figures) return;
        Object.keys(figures).forEach(function (name) {
          var el = root.querySelector('[data-figure="' + name + '"]');
          if (el && el.textContent !== String(figures[name])) el.textContent = String(figures[name]);
        });
        if (stamp) stamp.textContent = "Figures refresh every 30 seconds.";
      })
      .catch(function () { /* try again at the next tick */ });
  }
  window.setInterval(refresh, 30000);
  document.addEventListener("visibilitychange", refresh);
})();
