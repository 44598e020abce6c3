// The staff shell's keyboard and small comforts. Enhancement only: every
// action has a link, a button or a form that works without this file.
//
// Data attributes (see docs/architecture.md, "The staff shell"):
//   data-keys-list      on a <table> or <ul>/<ol>: j/k move a highlight over its
//                       rows (tbody > tr, or li), Enter opens the row's link
//   data-keys-row       marks the rows explicitly (otherwise every tr/li)
//   data-keys-open      the link Enter follows (otherwise the row's first a[href])
//   data-key="r|n|e"    r: reply, n: internal note, e: solve. A text field is
//                       focused; a button or link is clicked.
//   data-global-search  the top bar's search box (/ or Ctrl-K)
//   data-nav-toggle     the sidebar's compact/open checkbox (remembered)
//   data-key-help       a link that opens the key help dialog (#key-help)
//   data-bell           the top bar's notifications link; its count
//                       ([data-bell-count]) refreshes every 60 s from
//                       /admin/dashboard.json while the tab is visible
(function () {
  "use strict";
  var doc = document;

  function typing(el) {
    if (!el || el === doc.body) return false;
    var tag = el.tagName;
    if (tag === "INPUT") return !/^(checkbox|radio|button|submit|reset|range|color|file|image)$/i.test(el.type);
    return tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // --- the sidebar remembers being compact (wide screens only) ---
  var toggle = doc.querySelector("[data-nav-toggle]");
  var wide = window.matchMedia("(min-width: 60rem)");
  if (toggle) {
    try {
      if (wide.matches && localStorage.getItem("oc-nav-compact") === "1") toggle.checked = true;
    } catch (e) { /* storage off: nothing to remember */ }
    toggle.addEventListener("change", function () {
      if (!wide.matches) return;
      try { localStorage.setItem("oc-nav-compact", toggle.checked ? "1" : "0"); } catch (e) { /* ignore */ }
    });
  }

  // --- lists: j/k/Enter ---
  function lists() {
    var marked = doc.querySelectorAll("[data-keys-list]");
    if (marked.length) return Array.prototype.slice.call(marked);
    // Unmarked pages: the main column's first table whose rows hold links.
    var table = Array.prototype.find.call(doc.querySelectorAll("main table"), function (t) {
      return t.querySelector("tbody tr a[href]");
    });
    return table ? [table] : [];
  }

  function rowsOf(list) {
    var rows = list.querySelectorAll("[data-keys-row]");
    if (!rows.length) rows = list.tagName === "TABLE" ? list.querySelectorAll("tbody > tr") : list.querySelectorAll(":scope > li");
    return Array.prototype.filter.call(rows, function (r) { return r.querySelector("a[href]"); });
  }

  var current = null;
  function allRows() {
    return lists().reduce(function (all, l) { return all.concat(rowsOf(l)); }, []);
  }

  function highlight(row) {
    if (current) {
      current.classList.remove("key-current");
      current.removeAttribute("aria-current");
    }
    current = row;
    if (!row) return;
    row.classList.add("key-current");
    row.setAttribute("aria-current", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var rows = allRows();
    if (!rows.length) return false;
    var i = rows.indexOf(current);
    i = i < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, i + step));
    highlight(rows[i]);
    return true;
  }

  function openCurrent() {
    if (!current || !doc.body.contains(current)) return false;
    var link = current.querySelector("[data-keys-open]") || current.querySelector("a[href]");
    if (!link) return false;
    link.click();
    return true;
  }

  // --- ticket keys: r, n, e ---
  function keyTarget(key) {
    var el = doc.querySelector('[data-key="' + key + '"]');
    if (el) return el;
    // The ticket composer: one box, a Reply / Internal note switch.
    var body = doc.getElementById("reply-body");
    if (body && (key === "r" || key === "n")) {
      var mode = doc.getElementById(key === "r" ? "mode-reply" : "mode-note");
      if (mode && !mode.checked) {
        mode.checked = true;
        mode.dispatchEvent(new Event("change", { bubbles: true }));
      }
      return body;
    }
    if (key === "e" && doc.getElementById("solve-ticket")) return doc.getElementById("solve-ticket");
    // Ticket pages that do not mark their fields: find them by their forms.
    if (!/^\/admin\/tickets\/\d+/.test(location.pathname)) return null;
    if (key === "r") return doc.querySelector('form[action$="/reply"] textarea');
    if (key === "n") return doc.querySelector('form[action$="/note"] textarea');
    if (key === "e") {
      var form = doc.querySelector('form[action$="/status"]');
      var select = form && form.querySelector('select[name="status"]');
      if (!select || !select.querySelector('option[value="solved"]')) return null;
      return { solve: form, select: select };
    }
    return null;
  }

  function act(key) {
    var el = keyTarget(key);
    if (!el) return false;
    if (el.solve) {
      el.select.value = "solved";
      if (el.solve.requestSubmit) el.solve.requestSubmit(); else el.solve.submit();
      return true;
    }
    if (typing(el)) {
      el.focus();
      el.scrollIntoView({ block: "center" });
    } else {
      el.click();
    }
    return true;
  }

  // --- the key help dialog ---
  var help = doc.getElementById("key-help");
  function showHelp() {
    if (!help || typeof help.showModal !== "function") return false;
    if (!help.open) help.showModal();
    return true;
  }
  doc.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-key-help]");
    if (link && showHelp()) event.preventDefault();
  });

  // --- one listener for every key ---
  doc.addEventListener("keydown", function (event) {
    var search = doc.querySelector("[data-global-search]");
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "k" || event.key === "K")) {
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target === search) search.blur();
      return;
    }
    if (help && help.open) return;
    var done = false;
    switch (event.key) {
      case "/": if (search) { search.focus(); search.select(); done = true; } break;
      case "?": done = showHelp(); break;
      case "j": done = move(1); break;
      case "k": done = move(-1); break;
      case "Enter":
        // Only when a row is highlighted and focus is on nothing else that Enter activates.
        if (event.target === doc.body || event.target === doc.getElementById("main")) done = openCurrent();
        break;
      case "r": case "n": case "e": done = act(event.key); break;
    }
    if (done) event.preventDefault();
  });

  // --- the bell: unread notifications, refreshed without a reload ---
  var bell = doc.querySelector("[data-bell]");
  if (bell && window.fetch) {
    var badge = bell.querySelector("[data-bell-count]");
    var refreshBell = function () {
      if (doc.visibilityState !== "visible") return;
      fetch("/admin/dashboard.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (figures) {
          if (!figures || typeof figures.unread_notifications !== "number") return;
          var n = figures.unread_notifications;
          bell.setAttribute("aria-label", n ? "Notifications, " + n + " unread" : "Notifications, none unread");
          if (badge) { badge.textContent = String(n); badge.hidden = n === 0; }
        })
        .catch(function () { /* try again at the next tick */ });
    };
    window.setInterval(refreshBell, 60000);
    doc.addEventListener("visibilitychange", refreshBell);
  }
})();
