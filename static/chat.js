// The visitor's live chat: the launcher on every page (a link to /contact
// without JavaScript) and the full page at /chat. Text only: messages are
// inserted as text nodes, links made clickable one by one.
(function () {
  "use strict";
  var KEY = "oc_chat";

  function load() {
    try { return JSON.parse(window.sessionStorage.getItem(KEY)) || null; } catch (e) { return null; }
  }
  function save(s) {
    try { window.sessionStorage.setItem(KEY, JSON.stringify(s)); } catch (e) { /* private mode: this tab only */ }
  }
  function forget() {
    try { window.sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function randomId() {
    var a = new Uint8Array(9);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  // Text with its http(s) links made clickable; nothing is parsed as HTML.
  function richText(parent, text) {
    var re = /https?:\/\/[^\s<>"']+/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      var url = m[0].replace(/[).,;:!?]+$/, "");
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el("a", null, url);
      a.href = url;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      parent.appendChild(a);
      last = m.index + url.length;
      re.lastIndex = last;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  // A message's time as a <time> element, formatted like every other time
  // on the site (static/times.js): the visitor's own zone, named.
  function timeEl(ms) {
    var d = new Date(ms);
    var t = el("time", null, "");
    t.dateTime = d.toISOString();
    t.textContent = window.officecommsTime ? window.officecommsTime.format(d, true)
      : ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
    return t;
  }

  // "Dana from officecomms": who answers, and for whom.
  function companySuffix() {
    var e = document.querySelector("[data-company]");
    return e && e.dataset.company ? " from " + e.dataset.company : "";
  }

  function Chat(root, csrf, askAge) {
    this.askAge = askAge;
    this.root = root;
    this.csrf = csrf;
    this.session = load();
    this.ws = null;
    this.retry = 0;
    this.stopped = false;
    this.typingSent = 0;
    this.seen = 0;
    this.build();
  }

  Chat.prototype.build = function () {
    var self = this;
    this.root.classList.add("chat-widget");
    this.head = el("p", "chat-status", "");
    this.head.setAttribute("role", "status");
    this.log = el("ol", "chat-log");
    this.log.setAttribute("aria-live", "polite");
    this.typing = el("p", "typing", "The agent is typing…");
    this.typing.hidden = true;
    this.offline = el("p", "chat-offline");
    this.offline.setAttribute("role", "status");
    this.offline.hidden = true;
    this.mode = null;
    this.compose = el("form", "chat-compose");
    var label = el("label", "sr-only", "Your message");
    label.htmlFor = "chat-input-" + Math.floor(Math.random() * 1e6);
    this.input = el("textarea");
    this.input.id = label.htmlFor;
    this.input.rows = 2;
    this.input.maxLength = 4000;
    this.input.placeholder = "Write a message";
    this.input.setAttribute("data-chat-input", "");
    var send = el("button", null, "Send");
    send.type = "submit";
    // Asked only when nobody can answer live and the chat has no address.
    this.emailRow = el("p", "chat-email");
    this.emailRow.hidden = true;
    var emailLabel = el("label", null, "Your email, for our answer");
    emailLabel.htmlFor = label.htmlFor + "-email";
    this.email = el("input");
    this.email.type = "email";
    this.email.id = emailLabel.htmlFor;
    this.email.autocomplete = "email";
    this.email.maxLength = 254;
    this.email.setAttribute("data-chat-email", "");
    this.emailRow.appendChild(emailLabel);
    this.emailRow.appendChild(this.email);
    this.sendButton = send;
    this.compose.appendChild(this.emailRow);
    this.compose.appendChild(label);
    this.compose.appendChild(this.input);
    this.compose.appendChild(send);
    this.tools = el("p", "chat-tools");
    var transcript = el("button", "link", "Email me the transcript");
    transcript.type = "button";
    transcript.addEventListener("click", function () { self.askTranscript(); });
    this.tools.appendChild(transcript);
    this.notice = el("p", "chat-notice");
    this.notice.hidden = true;
    this.compose.addEventListener("submit", function (e) { e.preventDefault(); self.sendMessage(); });
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); self.sendMessage(); }
    });
    this.input.addEventListener("input", function () {
      var now = Date.now();
      if (now - self.typingSent > 1500) { self.typingSent = now; self.send({ type: "typing" }); }
    });
    document.addEventListener("visibilitychange", function () { self.markRead(); });
  };

  Chat.prototype.start = function () {
    if (this.session) { this.showConversation(); this.connect(); } else { this.showForm(); }
  };

  // The pre-chat step: name, optional email, the age question.
  Chat.prototype.showForm = function (errors) {
    var self = this;
    var form = this.root.querySelector("[data-chat-start]");
    if (!form) {
      form = el("form", "form chat-start");
      form.setAttribute("data-chat-start", "");
      form.innerHTML =
        '<label>Your name <input name="name" maxlength="100" autocomplete="name" required></label>' +
        '<label>Email (optional) <input name="email" type="email" autocomplete="email"></label>' +
        (this.askAge ? '<label>Year of birth <input name="birth_year" inputmode="numeric" maxlength="4" required></label>' : '') +
        '<button type="submit">Start chatting</button>' +
        '<p class="hint">Kept encrypted for a year, then deleted. <a href="/privacy">Privacy policy</a></p>';
      this.root.textContent = "";
      this.root.appendChild(form);
      this.addTopics(form);
    }
    var page = form.querySelector("[name=page]");
    if (page) page.value = location.pathname + location.search;
    this.showErrors(form, errors || {});
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      body.set("page", location.pathname + location.search);
      fetch("/chat/start", {
        method: "POST",
        credentials: "same-origin",
        headers: { "accept": "application/json", "x-csrf-token": self.csrf },
        body: body
      }).then(function (r) {
        if (r.status === 403) {
          self.root.textContent = "";
          self.root.appendChild(el("p", "alert", "Thank you for visiting. We can't chat with children under 13, and nothing you typed was kept."));
          return null;
        }
        return r.json().then(function (j) {
          if (r.status === 422) { self.showErrors(form, j.errors || {}); return; }
          if (!r.ok) throw new Error("start failed");
          self.session = { conversation: j.conversation, token: j.token, pending: [], email: !!body.get("email") };
          save(self.session);
          form.remove();
          self.showConversation();
          self.connect();
        });
      }).catch(function () {
        self.showErrors(form, { form: "We could not start the chat. Please try again, or use the contact form." });
      });
    });
  };

  // The topics the /chat page offers, asked for when the widget's form is
  // built: the chat is routed to the team of its topic. Without them (or
  // before they arrive) the form works as it is.
  Chat.prototype.addTopics = function (form) {
    fetch("/chat/topics", { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { topics: [] }; })
      .then(function (j) {
        if (!j.topics || !j.topics.length || form.querySelector("[name=topic]")) return;
        var label = el("label", null, "What is it about? (optional) ");
        var select = el("select");
        select.name = "topic";
        select.appendChild(el("option", null, "Choose a topic"));
        select.firstChild.value = "";
        j.topics.forEach(function (t) {
          var o = el("option", null, t);
          o.value = t;
          select.appendChild(o);
        });
        label.appendChild(select);
        form.insertBefore(label, form.querySelector("button[type=submit]"));
      })
      .catch(function () {});
  };

  Chat.prototype.showErrors = function (form, errors) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.remove(); });
    Object.keys(errors).forEach(function (name) {
      var input = form.querySelector("[name=" + name + "]");
      var p = el("p", "field-error", errors[name]);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.insertAdjacentElement("afterend", p);
      } else {
        form.appendChild(p);
      }
    });
  };

  Chat.prototype.showConversation = function () {
    var form = this.root.querySelector("[data-chat-start]");
    if (form) form.remove();
    // The pre-chat words ("tell us who you are") are done with.
    this.root.querySelectorAll(".hint, [data-chat-intro]").forEach(function (h) { h.remove(); });
    [this.head, this.log, this.typing, this.offline, this.notice, this.compose, this.tools].forEach(
      function (n) { this.root.appendChild(n); }, this);
    this.setStatus("Connecting…");
    this.session.pending.forEach(function (p) { this.renderPending(p); }, this);
  };

  Chat.prototype.setStatus = function (text) { this.head.textContent = text; };

  Chat.prototype.connect = function () {
    var self = this;
    if (this.stopped) return;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chat/ws");
    this.ws = ws;
    ws.onopen = function () {
      self.retry = 0;
      ws.send(JSON.stringify({ type: "hello", resume: { conversation: self.session.conversation, token: self.session.token, after: self.seen } }));
    };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      self.receive(f);
    };
    ws.onclose = function (e) {
      self.ws = null;
      self.ready = false;
      if (self.stopped || e.code === 1008) return;
      // Closed for idleness: wait until the visitor comes back to the chat.
      if (e.code === 1000) {
        self.setStatus("Paused while you were away; write to continue.");
        var wake = function () {
          self.input.removeEventListener("focus", wake);
          self.input.removeEventListener("input", wake);
          if (!self.ws) self.connect();
        };
        self.input.addEventListener("focus", wake);
        self.input.addEventListener("input", wake);
        return;
      }
      self.setStatus("Reconnecting…");
      var wait = [500, 1000, 2000, 5000, 10000][Math.min(self.retry++, 4)];
      window.setTimeout(function () { self.connect(); }, wait);
    };
  };

  Chat.prototype.send = function (frame) {
    if (this.ws && this.ws.readyState === 1 && this.ready) { this.ws.send(JSON.stringify(frame)); return true; }
    return false;
  };

  Chat.prototype.receive = function (f) {
    var s = this.session;
    switch (f.type) {
      case "welcome":
        this.ready = true;
        this.state = f.status;
        this.agents = f.agents_online;
        this.readSeq = f.read_seq;
        this.renderState();
        this.send({ type: "page", url: location.pathname + location.search });
        // Messages not yet acknowledged go again with their ids: stored once.
        s.pending.forEach(function (p) { this.send({ type: "message", body: p.body, id: p.id }); }, this);
        break;
      case "message":
        // A new page replays the whole conversation (after 0); a reconnect
        // on the same page resumes after the last message shown.
        if (f.seq <= this.seen) return;
        this.seen = f.seq;
        this.renderMessage(f);
        this.markRead();
        break;
      case "ack":
        s.pending = s.pending.filter(function (p) { return p.id !== f.id; });
        save(s);
        var li = this.log.querySelector('[data-pending="' + f.id + '"]');
        if (li) li.remove();
        break;
      case "typing":
        var t = this.typing;
        t.hidden = false;
        window.clearTimeout(this.typingTimer);
        this.typingTimer = window.setTimeout(function () { t.hidden = true; }, 3000);
        break;
      case "read":
        this.readSeq = f.seq;
        this.renderRead();
        break;
      case "status":
        this.agents = f.agents_online;
        if (this.agents > 0 && this.mode && this.mode.reason === "nobody_online") this.setMode(null);
        this.renderState();
        break;
      case "offline":
        this.setMode(f);
        this.renderState();
        break;
      case "conversation":
        this.state = f.status;
        this.agentName = f.agent;
        this.renderState();
        break;
      case "ticket":
        this.setMode(null);
        this.input.value = "";
        this.showNotice("Thank you. Your message is support ticket " + f.reference + "; we will answer by email.");
        this.notice.setAttribute("data-ticket", f.reference);
        this.state = "closed";
        this.renderState();
        break;
      case "transcript":
        this.showNotice("The transcript is on its way to " + f.to + ".");
        break;
      case "error":
        if (f.code === "invalid_token") { forget(); this.session = null; this.stopped = true; this.root.textContent = ""; this.showForm(); return; }
        this.sendButton.disabled = false;
        this.showNotice(f.message);
        if (f.code === "email" && this.mode) {
          this.session.email = false;
          this.emailRow.hidden = false;
          this.email.setAttribute("aria-invalid", "true");
          this.email.focus();
        }
        break;
    }
  };

  // Nobody can answer live: the one box now leaves a message that becomes
  // a support ticket (with the address, asked for when the chat has none).
  Chat.prototype.setMode = function (mode) {
    this.mode = mode;
    this.offline.hidden = !mode;
    this.offline.textContent = mode ? mode.message : "";
    this.emailRow.hidden = !(mode && mode.email_needed);
    this.email.required = !this.emailRow.hidden;
    this.input.placeholder = mode ? (mode.reason === "unanswered" ? "Anything to add? (optional)" : "Your message") : "Write a message";
    this.input.required = !!mode && mode.reason !== "unanswered";
    this.sendButton.textContent = mode ? "Leave message" : "Send";
    this.sendButton.disabled = false;
  };

  Chat.prototype.showNotice = function (text) {
    this.notice.textContent = text;
    this.notice.hidden = false;
  };

  Chat.prototype.renderState = function () {
    var self = this;
    if (this.state === "closed") {
      this.setStatus("This chat is closed.");
      this.compose.hidden = true;
      this.offline.hidden = true;
      this.typing.hidden = true;
      if (!this.root.querySelector("[data-chat-new]")) {
        var again = el("button", "secondary", "Start a new chat");
        again.type = "button";
        again.setAttribute("data-chat-new", "");
        again.addEventListener("click", function () {
          forget();
          self.stopped = true;
          if (self.ws) self.ws.close();
          self.session = null;
          self.root.textContent = "";
          self.stopped = false;
          self.showForm();
        });
        this.root.appendChild(again);
      }
      return;
    }
    this.compose.hidden = false;
    if (this.state === "active") {
      this.setStatus(this.agentName ? "You are chatting with " + this.agentName + companySuffix() + "." : "An agent is with you.");
    } else if (this.agents > 0) {
      this.setStatus("An agent will be with you shortly.");
    } else {
      this.setStatus("Nobody is online right now.");
    }
    // The offline note says it already, with what to do.
    if (this.mode) this.setStatus("");
  };

  Chat.prototype.askTranscript = function () {
    var email = null;
    if (!this.session.email) {
      email = window.prompt("Send the transcript to which email address?");
      if (!email) return;
    }
    this.send({ type: "transcript", email: email });
  };

  Chat.prototype.renderMessage = function (f) {
    var li = el("li", f.from);
    li.setAttribute("data-seq", f.seq);
    var meta = el("p", "meta", f.from === "system" ? "" : (f.from === "visitor" ? "You" : f.name) + " · ");
    meta.appendChild(timeEl(f.at));
    var body = el("p", "body");
    richText(body, f.body);
    li.appendChild(meta);
    li.appendChild(body);
    if (f.from === "visitor") li.appendChild(el("p", "receipt", "Delivered"));
    this.log.appendChild(li);
    this.renderRead();
    li.scrollIntoView({ block: "nearest" });
  };

  Chat.prototype.renderPending = function (p) {
    var li = el("li", "visitor pending");
    li.setAttribute("data-pending", p.id);
    var body = el("p", "body");
    richText(body, p.body);
    li.appendChild(body);
    li.appendChild(el("p", "receipt", "Sending…"));
    this.log.appendChild(li);
  };

  Chat.prototype.renderRead = function () {
    var read = this.readSeq || 0;
    this.log.querySelectorAll("li.visitor[data-seq]").forEach(function (li) {
      if (Number(li.getAttribute("data-seq")) <= read) li.querySelector(".receipt").textContent = "Read";
    });
  };

  Chat.prototype.markRead = function () {
    if (document.visibilityState !== "visible" || !this.session) return;
    if (this.seen > (this.sentRead || 0) && this.send({ type: "read", seq: this.seen })) {
      this.sentRead = this.seen;
    }
  };

  Chat.prototype.sendMessage = function () {
    var text = this.input.value.trim();
    if (this.mode && this.session) {
      var email = this.emailRow.hidden ? null : this.email.value.trim();
      if (!this.emailRow.hidden && !email) { this.email.focus(); this.showNotice("Please give your email so we can answer you."); return; }
      if (!text && this.mode.reason !== "unanswered") { this.input.focus(); return; }
      // Kept in the box until the ticket is confirmed.
      if (this.send({ type: "leave_message", body: text, email: email || null })) this.sendButton.disabled = true;
      return;
    }
    if (!text || !this.session) return;
    var p = { id: randomId(), body: text };
    this.session.pending.push(p);
    save(this.session);
    this.renderPending(p);
    this.input.value = "";
    this.send({ type: "message", body: text, id: p.id });
  };

  function init() {
    var full = document.querySelector("[data-chat-full]");
    var launcher = document.getElementById("chat-launcher");
    if (launcher && launcher.dataset.css && !document.querySelector('link[href="' + launcher.dataset.css + '"]')) {
      var css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = launcher.dataset.css;
      document.head.appendChild(css);
    }
    if (full) {
      if (launcher) launcher.hidden = true;
      if (full.dataset.conversation && !load()) {
        save({ conversation: Number(full.dataset.conversation), token: full.dataset.token, pending: [], email: false });
      }
      new Chat(full, full.dataset.csrf, full.hasAttribute("data-ask-age")).start();
      return;
    }
    if (!launcher) return;
    var panel = null;
    function open() {
      if (!panel) {
        panel = el("section", "chat-panel");
        panel.setAttribute("aria-label", "Live chat");
        var close = el("button", "link chat-panel-close", "Close");
        close.type = "button";
        close.addEventListener("click", function () { panel.hidden = true; launcher.hidden = false; });
        var body = el("div");
        panel.appendChild(close);
        panel.appendChild(body);
        document.body.appendChild(panel);
        new Chat(body, launcher.dataset.csrf, launcher.hasAttribute("data-ask-age")).start();
      }
      panel.hidden = false;
      launcher.hidden = true;
    }
    launcher.addEventListener("click", function (e) { e.preventDefault(); open(); });
    // A conversation going on in this tab follows the visitor from page to page.
    if (load()) open();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
