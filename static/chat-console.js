// The staff chat console at /admin/chat: the queue, presence, one open
// conversation, canned replies, a title badge and an optional sound for a
// new chat. Text only: messages are inserted as text nodes.
(function () {
  "use strict";
  var root = document.querySelector("[data-console]");
  if (!root) return;
  var q = function (sel) { return root.querySelector(sel); };
  var queue = q("[data-queue]"), panel = q("[data-panel]"), log = q("[data-log]");
  var input = q("[data-input]"), typing = q("[data-typing]"), presence = q("[data-presence]");
  var conn = q("[data-connection]"), agentsBadge = q("[data-agents]");
  var title = document.title, ws = null, retry = 0, me = null;
  var chats = {}, current = null, last = {}, unread = 0, typingSent = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Moments as the server writes them (Page::when): relative words, the
  // exact time in the staff member's chosen zone (data-zone) on hover.
  var exact = null;
  try {
    exact = new Intl.DateTimeFormat("en-US", { timeZone: root.getAttribute("data-zone") || undefined,
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short" });
  } catch (e) { /* the browser's own zone, in ISO form, below */ }
  function exactTime(date) { // "7 Dec 2026, 09:15 PST"
    if (!exact || !exact.formatToParts) return date.toISOString();
    var p = {};
    exact.formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
    return p.day + " " + p.month + " " + p.year + ", " + p.hour + ":" + p.minute + " " + p.timeZoneName;
  }
  function relativeWords(ago) { // as relative_words in src/platform/templates.rs
    var s = Math.floor(Math.abs(ago) / 1000), amount;
    if (s < 45) return "just now";
    if (s < 3600) amount = Math.max(1, Math.ceil(s / 60)) + " min";
    else if (s < 86400) amount = Math.floor(s / 3600) + " h";
    else if (s < 172800) amount = "1 day";
    else amount = Math.floor(s / 86400) + " days";
    return ago < 0 ? "in " + amount : amount + " ago";
  }
  function moment(value) {
    var at = new Date(value), t = el("time", null, relativeWords(Date.now() - at.getTime()));
    t.setAttribute("datetime", at.toISOString().replace(/\.\d{3}Z$/, "Z"));
    t.title = exactTime(at);
    return t;
  }
  function richText(parent, text) {
    var re = /https?:\/\/[^\s<>"']+/g, at = 0, m;
    while ((m = re.exec(text)) !== null) {
      var url = m[0].replace(/[).,;:!?]+$/, "");
      if (m.index > at) parent.appendChild(document.createTextNode(text.slice(at, m.index)));
      var a = el("a", null, url);
      a.href = url;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      parent.appendChild(a);
      at = m.index + url.length;
      re.lastIndex = at;
    }
    if (at < text.length) parent.appendChild(document.createTextNode(text.slice(at)));
  }
  function randomId() {
    var a = new Uint8Array(9);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function send(frame) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); }

  function badge() {
    var waiting = Object.keys(chats).filter(function (id) { return chats[id].status === "waiting"; }).length;
    var n = waiting + unread;
    document.title = n > 0 ? "(" + n + ") " + title : title;
  }
  function beep() {
    if (!q("[data-sound]").checked) return;
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var o = ctx.createOscillator();
      o.connect(ctx.destination);
      o.frequency.value = 880;
      o.start();
      o.stop(ctx.currentTime + 0.15);
    } catch (e) { /* no audio */ }
  }

  function renderQueue() {
    queue.textContent = "";
    var ids = Object.keys(chats).filter(function (id) { return chats[id].status !== "closed"; });
    if (!ids.length) queue.appendChild(el("li", "empty", "No open chats."));
    ids.sort(function (a, b) { return chats[a].created_at - chats[b].created_at; }).forEach(function (id) {
      var c = chats[id];
      var li = el("li", c.status + (Number(id) === current ? " current" : ""));
      li.setAttribute("data-id", id);
      var b = el("button", "link", c.name);
      b.type = "button";
      b.addEventListener("click", function () { openChat(Number(id)); });
      li.appendChild(b);
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "badge", c.status));
      if (c.agent) li.appendChild(document.createTextNode(" · " + c.agent));
      if (c.team) li.appendChild(document.createTextNode(" · " + c.team));
      if (c.unread) li.appendChild(el("span", "badge unread", c.unread + " new"));
      queue.appendChild(li);
    });
    badge();
  }

  function renderPanel() {
    var c = chats[current];
    if (!c) { panel.hidden = true; return; }
    panel.hidden = false;
    q("[data-title]").textContent = "Chat with " + c.name;
    q("[data-context]").textContent = [c.email ? c.email + (c.email_verified ? "" : " (unverified)") : "no email given", c.page ? "on " + c.page : "", c.status + (c.agent ? " with " + c.agent : "")].filter(Boolean).join(" · ");
    q("[data-history]").href = "/admin/chat/" + c.conversation;
    q('[data-action="accept"]').hidden = c.status !== "waiting";
  }

  // The "All conversations" table below the console: a chat that starts or
  // changes while the page is open is shown there too (not while it shows
  // search results, which the server filtered; narrowed to "My teams",
  // only a chat of one of the agent's teams).
  var allTable = document.querySelector("[data-all-conversations]");
  var myTeams = allTable && allTable.hasAttribute("data-my-teams")
    ? allTable.getAttribute("data-my-teams").split(" ").filter(Boolean).map(Number)
    : null;
  function upsertRow(c) {
    if (!allTable || allTable.hasAttribute("data-filtered")) return;
    if (myTeams && myTeams.indexOf(c.team_id) < 0) {
      var gone = allTable.tBodies[0].querySelector('tr[data-id="' + c.conversation + '"]');
      if (gone) gone.remove();
      return;
    }
    var body = allTable.tBodies[0];
    var row = body.querySelector('tr[data-id="' + c.conversation + '"]');
    var time = moment(c.updated_at);
    if (row && row.cells.length === 6) {
      row.cells[1].textContent = "";
      row.cells[1].appendChild(el("span", "badge", c.status));
      row.cells[2].textContent = c.agent || "";
      row.cells[3].textContent = "";
      row.cells[3].appendChild(time);
      var team = row.cells[5].querySelector("[data-team]");
      if (team) team.textContent = c.team || "";
    } else {
      row = document.createElement("tr");
      row.setAttribute("data-id", c.conversation);
      var empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      var who = el("td");
      var link = el("a", null, c.name);
      link.href = "/admin/chat/" + c.conversation;
      who.appendChild(link);
      if (c.email) {
        who.appendChild(document.createElement("br"));
        who.appendChild(el("small", null, c.email + (c.email_verified ? "" : " (unverified)")));
      }
      row.appendChild(who);
      var status = el("td");
      status.appendChild(el("span", "badge", c.status));
      row.appendChild(status);
      row.appendChild(el("td", null, c.agent || ""));
      var when = el("td");
      when.appendChild(time);
      row.appendChild(when);
      row.appendChild(el("td"));
      var teamCell = el("td");
      var teamName = el("span", null, c.team || "");
      teamName.setAttribute("data-team", "");
      teamCell.appendChild(teamName);
      row.appendChild(teamCell);
    }
    body.insertBefore(row, body.firstChild);
  }

  function openChat(id) {
    current = id;
    log.textContent = "";
    last[id] = 0;
    if (chats[id]) { unread -= chats[id].unread || 0; chats[id].unread = 0; }
    send({ type: "open", conversation: id, after: 0 });
    renderQueue();
    renderPanel();
    input.focus();
  }

  function addMessage(f) {
    if (f.conversation !== current) {
      var c = chats[f.conversation];
      if (c && f.from === "visitor") { c.unread = (c.unread || 0) + 1; unread++; renderQueue(); beep(); }
      return;
    }
    if (f.seq <= (last[current] || 0)) return;
    last[current] = f.seq;
    var li = el("li", f.from);
    li.setAttribute("data-seq", f.seq);
    var meta = el("p", "meta", f.from === "system" ? "" : f.name + " · ");
    meta.appendChild(moment(f.at));
    li.appendChild(meta);
    var body = el("p", "body");
    richText(body, f.body);
    li.appendChild(body);
    if (f.from === "agent") li.appendChild(el("p", "receipt", "Delivered"));
    log.appendChild(li);
    li.scrollIntoView({ block: "nearest" });
    if (f.from === "visitor" && document.visibilityState === "visible") send({ type: "read", conversation: current, seq: f.seq });
  }

  function receive(f) {
    switch (f.type) {
      case "console":
        me = f;
        chats = {};
        f.conversations.forEach(function (c) { chats[c.conversation] = c; });
        agentsBadge.textContent = f.agents_online + " online";
        presence.disabled = false;
        conn.textContent = "Live";
        renderQueue();
        if (current) openChat(current);
        break;
      case "conversation":
        var isNew = !chats[f.conversation] && f.status === "waiting";
        var old = chats[f.conversation] || {};
        f.unread = old.unread || 0;
        chats[f.conversation] = f;
        upsertRow(f);
        if (isNew) beep();
        renderQueue();
        if (f.conversation === current) renderPanel();
        break;
      case "message": addMessage(f); break;
      case "typing":
        if (f.conversation === current) {
          typing.hidden = false;
          window.clearTimeout(typing.timer);
          typing.timer = window.setTimeout(function () { typing.hidden = true; }, 3000);
        }
        break;
      case "read":
        if (f.conversation === current) {
          log.querySelectorAll("li.agent[data-seq]").forEach(function (li) {
            if (Number(li.getAttribute("data-seq")) <= f.seq) li.querySelector(".receipt").textContent = "Read";
          });
        }
        break;
      case "status": agentsBadge.textContent = f.agents_online + " online"; break;
      case "error": conn.textContent = f.message; break;
    }
  }

  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/admin/chat/ws");
    ws.onopen = function () { retry = 0; if (presence.value !== "online") send({ type: "presence", status: presence.value }); };
    ws.onmessage = function (e) { try { receive(JSON.parse(e.data)); } catch (err) { /* ignore a bad frame */ } };
    ws.onclose = function () {
      conn.textContent = "Reconnecting…";
      presence.disabled = true;
      window.setTimeout(connect, [500, 1000, 2000, 5000][Math.min(retry++, 3)]);
    };
  }

  presence.addEventListener("change", function () { send({ type: "presence", status: presence.value }); });
  root.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!current) return;
      var action = b.getAttribute("data-action");
      if (action === "transfer") {
        var to = Number(q("[data-transfer-to]").value);
        if (to) send({ type: "transfer", conversation: current, to: to });
      } else {
        send({ type: action, conversation: current });
      }
    });
  });
  var canned = q("[data-canned]");
  if (canned) canned.addEventListener("change", function () {
    if (!canned.value) return;
    var c = chats[current] || {};
    input.value = canned.value.replace(/\{name\}/g, c.name || "").replace(/\{agent\}/g, me ? me.agent : "").replace(/\{reference\}/g, "");
    canned.value = "";
    input.focus();
  });
  q("[data-compose]").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text || !current) return;
    send({ type: "message", conversation: current, body: text, id: randomId() });
    input.value = "";
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); q("[data-compose]").requestSubmit(); }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (current && now - typingSent > 1500) { typingSent = now; send({ type: "typing", conversation: current }); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { unread = 0; badge(); }
  });
  connect();
})();
