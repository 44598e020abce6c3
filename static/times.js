// Times in the visitor's own zone: the server writes each moment as
// <time datetime="…Z"> in the company's zone (named); where the browser
// knows its zone, this rewrites the text with the zone named, and the
// exact time on hover (the title) when there is one; for relative words
// like "3 min ago", only the title. Dates without a time (an article's
// day) are written as dates.
(function () {
  "use strict";
  var full, exact, clock, day;
  try {
    full = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" });
    exact = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
    day = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
    clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit", timeZoneName: "short" });
  } catch (e) {
    return;
  }
  // Today's moments by the clock alone ("2:05 PM PST"), others in full.
  function format(date, brief) {
    var now = new Date();
    var today = date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() && date.getDate() === now.getDate();
    return brief && today ? clock.format(date) : full.format(date);
  }
  window.officecommsTime = { format: format };
  function localise(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var value = t.getAttribute("datetime");
      if (value.indexOf("T") < 0 || t.hasAttribute("data-local")) return;
      var date = new Date(value);
      if (isNaN(date.getTime())) return;
      t.setAttribute("data-local", "");
      if (/\d:\d\d/.test(t.textContent)) {
        t.textContent = format(date, t.hasAttribute("data-brief"));
        if (t.hasAttribute("title")) t.title = exact.format(date);
      } else if (t.hasAttribute("title")) t.title = full.format(date);
      // A date the server wrote without a clock time stays a date.
      else t.textContent = day.format(date);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { localise(document); });
  else localise(document);
})();
