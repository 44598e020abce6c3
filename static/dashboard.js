// Refreshes the dashboard's figures from /admin/dashboard.json every 30 s
// while the tab is visible, and at once when the staff member comes back
// to it (the tab shown again, or the window focused). Without JavaScript
// the page shows the figures as they were when it was loaded.
(function () {
  "use strict";
  var root = document.querySelector("[data-dashboard]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-dashboard");
  var stamp = root.querySelector("[data-refreshed]");
  var last = Date.now();
  function refresh() {
    if (document.visibilityState !== "visible") return;
    last = Date.now();
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (figures) {
        if (!figures) return;
        Object.keys(figures).forEach(function (name) {
          var text = String(figures[name]);
          root.querySelectorAll('[data-figure="' + name + '"]').forEach(function (el) {
            if (el.textContent !== text) el.textContent = text;
          });
        });
        if (stamp) stamp.textContent = "Figures refresh every 30 seconds.";
      })
      .catch(function () { /* try again at the next tick */ });
  }
  // Coming back after a second or more away: the figures may have moved.
  function back() {
    if (Date.now() - last > 1000) refresh();
  }
  window.setInterval(refresh, 30000);
  document.addEventListener("visibilitychange", back);
  window.addEventListener("focus", back);
})();
