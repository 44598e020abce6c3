// Live preview for the article editor (/admin/articles). Without this file the Preview
// button does the same through the server.
(function () {
  "use strict";
  var form = document.querySelector("form[data-preview-url]");
  var out = document.getElementById("live-preview");
  if (!form || !out || !window.fetch) return;
  var body = form.querySelector("textarea[name=body]");
  var csrf = form.querySelector("input[name=csrf]").value;
  var url = form.getAttribute("data-preview-url");
  var timer = null;
  var latest = 0;
  function refresh() {
    var mine = ++latest;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": csrf, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ body: body.value })
    })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        // Only the newest answer counts; the server has sanitised it.
        if (mine === latest) out.innerHTML = html;
      })
      .catch(function () {});
  }
  body.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  if (body.value) refresh();
})();
