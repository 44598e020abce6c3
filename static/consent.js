// The consent banner works as a plain form; this only saves the choice
// without reloading the page, then removes the banner.
(function () {
  "use strict";
  var form = document.querySelector("[data-consent-form]");
  if (!form || !window.fetch) return;
  form.addEventListener("submit", function (event) {
    var button = event.submitter;
    if (!button || !button.value) return;
    event.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    body.set("choice", button.value);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "x-csrf-token": body.get("csrf") },
      body: body
    }).then(function (response) {
      if (!response.ok) throw new Error("status " + response.status);
      return response.json();
    }).then(function (saved) {
      var banner = document.getElementById("consent-banner");
      var note = document.createElement("p");
      note.className = "consent-saved wrap";
      note.setAttribute("role", "status");
      note.textContent = "Saved: " + saved.choices + ". You can change this on the cookie page at any time.";
      banner.replaceWith(note);
      if (saved.reload) window.location.reload();
    }).catch(function () {
      // Fall back to the plain form post.
      buttons.forEach(function (b) { b.disabled = false; });
      var choice = document.createElement("input");
      choice.type = "hidden";
      choice.name = "choice";
      choice.value = button.value;
      form.appendChild(choice);
      form.submit();
    });
  });
})();
