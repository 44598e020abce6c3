// Tickets: the inbox's filters apply as soon as one changes, "select all"
// ticks every row; on the ticket page a canned reply goes in at the cursor.
// Everything here also works without JavaScript, through the forms' buttons.
(function () {
  "use strict";
  var filters = document.querySelector("[data-apply-on-change]");
  if (filters) {
    filters.querySelectorAll("select").forEach(function (s) {
      s.addEventListener("change", function () { filters.submit(); });
    });
    // Choices apply at once and the search box on Enter: the button is not needed.
    var apply = filters.querySelector(".apply");
    if (apply) apply.hidden = true;
  }

  // The bulk bar shows only the fields the chosen action uses.
  var action = document.getElementById("bulk-action");
  if (action) {
    var sync = function () {
      document.querySelectorAll("[data-bulk-for]").forEach(function (g) {
        g.hidden = g.getAttribute("data-bulk-for") !== action.value;
      });
    };
    action.addEventListener("change", sync);
    sync();
  }

  var all = document.querySelector("[data-select-all]");
  if (all) {
    var boxes = function () { return document.querySelectorAll('#ticket-list input[name="ids"]'); };
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = all.checked; });
    });
    document.querySelectorAll('#ticket-list input[name="ids"]').forEach(function (b) {
      b.addEventListener("change", function () {
        var list = Array.prototype.slice.call(boxes());
        var ticked = list.filter(function (x) { return x.checked; }).length;
        all.checked = ticked === list.length;
        all.indeterminate = ticked > 0 && ticked < list.length;
      });
    });
  }

  var insert = document.getElementById("insert-canned");
  var body = document.getElementById("reply-body");
  var canned = document.getElementById("canned");
  if (insert && body && canned) {
    insert.addEventListener("click", function (e) {
      var option = canned.options[canned.selectedIndex];
      var text = option && option.getAttribute("data-body");
      if (!text) return; // nothing chosen: let the server say so
      e.preventDefault();
      var start = body.selectionStart, end = body.selectionEnd, value = body.value;
      body.value = value.slice(0, start) + text + value.slice(end);
      body.selectionStart = body.selectionEnd = start + text.length;
      body.focus();
      canned.selectedIndex = 0;
    });
  }
})();
