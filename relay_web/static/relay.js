// The viewer's behaviour: theme switch, times, composer, live updates, "load older", show more/less,
// sender colours, replies and threads, read receipts and presence, unread markers, notifications.
// Served as a static file: the page's CSP allows no inline script and no inline event handlers.
(function () {
  "use strict";

  var POLL_MS = 1000; // a message posted by an agent appears within about a second
  var HIDDEN_POLL_MS = 5000; // a background tab polls less often
  var LIST_POLL_MS = 2000;
  var MAX_BACKOFF_MS = 8000;
  var COLLAPSE_PX = 420; // taller rendered messages start collapsed
  var BOTTOM_SLACK_PX = 80; // "at the bottom" tolerance for keeping the view pinned to new messages

  var body = document.body;
  var page = body.getAttribute("data-page");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (e) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      if (value === null) {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, value);
      }
    } catch (e) {
      // Private mode or disabled storage: the choice is just not remembered.
    }
  }

  // --- theme: auto (system) -> light -> dark -> auto, remembered in localStorage -------------------

  function setupTheme() {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    var order = ["auto", "light", "dark"];
    function current() {
      var stored = storageGet("relay.theme");
      return stored === "light" || stored === "dark" ? stored : "auto";
    }
    function show(theme) {
      if (theme === "auto") {
        document.documentElement.removeAttribute("data-theme");
      } else {
        document.documentElement.setAttribute("data-theme", theme);
      }
      button.textContent = "Theme: " + theme;
      button.setAttribute("data-theme-choice", theme);
    }
    show(current());
    button.addEventListener("click", function () {
      var next = order[(order.indexOf(current()) + 1) % order.length];
      storageSet("relay.theme", next === "auto" ? null : next);
      show(next);
    });
  }

  // --- times: relative ("3 min ago") and absolute in the reader's time zone -------------------------

  function relative(seconds) {
    var ago = Math.max(0, Date.now() / 1000 - seconds);
    if (ago < 45) return "just now";
    if (ago < 90) return "1 min ago";
    if (ago < 3600) return Math.round(ago / 60) + " min ago";
    if (ago < 5400) return "1 h ago";
    if (ago < 86400) return Math.round(ago / 3600) + " h ago";
    if (ago < 172800) return "yesterday";
    return Math.round(ago / 86400) + " days ago";
  }

  function updateTimes(root) {
    var times = (root || document).querySelectorAll("time[data-ts]");
    for (var i = 0; i < times.length; i++) {
      var raw = times[i].getAttribute("data-ts");
      if (!raw) continue;
      var ts = parseFloat(raw);
      var when = new Date(ts * 1000);
      var rel = times[i].querySelector(".rel");
      var abs = times[i].querySelector(".abs");
      if (isNaN(when.getTime())) {
        // a time written by another tool that no calendar shows (e.g. 1e300)
        if (rel) rel.textContent = "";
        if (abs) abs.textContent = "unknown time";
        continue;
      }
      if (rel) rel.textContent = relative(ts);
      if (abs) abs.textContent = when.toLocaleString();
    }
  }

  // --- long messages: collapsed with show more/less; the choice survives updates and reloads ------

  var expanded = {};

  function loadExpanded(target) {
    try {
      var saved = JSON.parse(window.sessionStorage.getItem("relay.expanded." + target) || "[]");
      for (var i = 0; i < saved.length; i++) expanded[saved[i]] = true;
    } catch (e) {
      expanded = {};
    }
  }

  function saveExpanded(target) {
    try {
      window.sessionStorage.setItem("relay.expanded." + target, JSON.stringify(Object.keys(expanded)));
    } catch (e) {
      // not remembered across reloads, still kept while the page is open
    }
  }

  function setupCollapse(article, target) {
    if (article.getAttribute("data-collapse-ready")) return;
    article.setAttribute("data-collapse-ready", "1");
    var bodyEl = article.querySelector(".msg-body");
    var toggle = article.querySelector(".msg-toggle");
    if (!bodyEl || !toggle || bodyEl.scrollHeight <= COLLAPSE_PX) return;
    var id = article.getAttribute("data-id");
    function apply() {
      var open = !!expanded[id];
      article.classList.toggle("collapsed", !open);
      toggle.textContent = open ? "Show less" : "Show more";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    }
    article.classList.add("collapsible");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      if (expanded[id]) {
        delete expanded[id];
      } else {
        expanded[id] = true;
      }
      saveExpanded(target);
      apply();
    });
    apply();
  }

  // --- status line -----------------------------------------------------------------------------------

  function setStatus(text) {
    var status = document.getElementById("live-status");
    if (!status) return;
    status.hidden = !text;
    status.textContent = text || "";
  }

  // --- JSON requests -----------------------------------------------------------------------------------

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (response) {
        return response.json().then(
          function (data) {
            if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
            return data;
          },
          function () {
            throw new Error("HTTP " + response.status);
          }
        );
      }
    );
  }

  // --- the channel page: live updates and "load older" ---------------------------------------------

  function atBottom() {
    var doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - BOTTOM_SLACK_PX;
  }

  function scrollToBottom() {
    window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function insertMessages(list, messages, where, target, keep) {
    var added = [];
    for (var i = 0; i < messages.length; i++) {
      if (document.getElementById("m-" + messages[i].id)) continue; // already shown
      if (keep && !keep(messages[i])) continue;
      // Rendered and sanitised on the server; a <template> parses it inert (nothing loads or runs).
      var holder = document.createElement("template");
      holder.innerHTML = messages[i].html;
      var article = document.importNode(holder.content, true).firstElementChild;
      if (!article) continue;
      added.push(article);
    }
    if (where === "start") {
      for (var j = added.length - 1; j >= 0; j--) list.insertBefore(added[j], list.firstChild);
    } else {
      for (var k = 0; k < added.length; k++) list.appendChild(added[k]);
    }
    for (var n = 0; n < added.length; n++) {
      updateTimes(added[n]);
      setupCollapse(added[n], target);
    }
    people.decorate(list);
    if (added.length) {
      var empty = document.getElementById("empty");
      if (empty) empty.hidden = true;
    }
    return added.length;
  }

  function setupChannel() {
    var target = body.getAttribute("data-target");
    var list = document.getElementById("message-list");
    var latestId = parseInt(body.getAttribute("data-latest-id"), 10) || 0;
    var delay = POLL_MS;
    var timer = null;
    var unseen = 0;
    var baseTitle = document.title;
    var keep = threadFilter(list);

    unread.markOnOpen(list, target);
    people.decorate(list);
    people.watchPresence(target, list);
    loadExpanded(target);
    var articles = list.querySelectorAll("article.msg");
    for (var i = 0; i < articles.length; i++) setupCollapse(articles[i], target);
    if (!window.location.hash) scrollToBottom();

    function schedule(ms) {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(poll, ms);
    }

    function poll() {
      timer = null;
      var url = "/ui/channels/" + encodeURIComponent(target) + "/updates?since_id=" + latestId;
      getJSON(url).then(
        function (data) {
          var pinned = atBottom();
          var before = document.hidden ? unread.markBefore(list, data.messages, keep) : null;
          var added = insertMessages(list, data.messages, "end", target, keep);
          latestId = Math.max(latestId, data.latest_id);
          var paused = document.getElementById("loop-paused");
          if (paused && data.loop_guard) paused.hidden = !data.loop_guard.paused;
          if (added && pinned && !before) scrollToBottom(); // otherwise the reader's place is kept
          if (added && document.hidden) {
            unseen += added;
            document.title = "(" + unseen + ") " + baseTitle;
            notifyMessages(target, data.messages, keep);
          }
          if (!document.hidden) unread.remember(target, latestId);
          setStatus("");
          delay = POLL_MS;
          schedule(data.has_more ? 0 : document.hidden ? HIDDEN_POLL_MS : POLL_MS);
        },
        function (error) {
          setStatus("reconnecting: " + error.message);
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
          schedule(delay);
        }
      );
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        unseen = 0;
        document.title = baseTitle;
        unread.remember(target, latestId);
        schedule(0);
      }
    });

    var older = document.getElementById("load-older");
    if (older) older.addEventListener("click", function () {
      var first = list.querySelector("article.msg");
      if (!first) return;
      older.disabled = true;
      var url =
        "/ui/channels/" + encodeURIComponent(target) + "/older?before_id=" + first.getAttribute("data-id");
      getJSON(url).then(
        function (data) {
          var doc = document.documentElement;
          var before = doc.scrollHeight;
          insertMessages(list, data.messages, "start", target);
          window.scrollBy(0, doc.scrollHeight - before); // keep the messages the reader was looking at
          older.hidden = !data.has_more;
          older.disabled = false;
        },
        function (error) {
          setStatus("could not load older messages: " + error.message);
          older.disabled = false;
        }
      );
    });

    if (!document.hidden) unread.remember(target, latestId);
    schedule(POLL_MS);
    return function () {
      schedule(0);
    };
  }

  // --- the channel list: new channels and new activity without a reload ----------------------------

  function channelRow(detail) {
    var row = document.createElement("tr");
    row.setAttribute("data-target", detail.target);
    var name = document.createElement("td");
    var link = document.createElement("a");
    link.href = "/channels/" + encodeURIComponent(detail.target);
    link.textContent = detail.target;
    name.appendChild(link);
    var count = document.createElement("td");
    count.className = "num";
    count.textContent = String(detail.count);
    var sender = document.createElement("td");
    sender.textContent = detail.last_sender || "-";
    var when = document.createElement("td");
    var time = document.createElement("time");
    time.setAttribute("data-ts", detail.last_ts === null ? "" : String(detail.last_ts));
    var rel = document.createElement("span");
    rel.className = "rel";
    var abs = document.createElement("span");
    abs.className = "abs";
    abs.textContent = detail.last_ts === null ? "-" : "";
    var sep = document.createElement("span");
    sep.className = "sep";
    sep.setAttribute("aria-hidden", "true");
    sep.textContent = " \u00b7 ";
    time.appendChild(rel);
    time.appendChild(sep);
    time.appendChild(abs);
    var badge = document.createElement("span");
    badge.className = "unread";
    badge.hidden = true;
    badge.setAttribute("data-latest", String(detail.latest_id));
    name.appendChild(document.createTextNode(" "));
    name.appendChild(badge);
    when.appendChild(time);
    row.appendChild(name);
    row.appendChild(count);
    row.appendChild(sender);
    row.appendChild(when);
    return row;
  }

  function setupIndex() {
    var rows = document.getElementById("channel-rows");
    var names = document.getElementById("channel-names");
    var delay = LIST_POLL_MS;
    showUnreadCounts(rows);
    function poll() {
      getJSON("/ui/channels").then(
        function (data) {
          var fresh = document.createDocumentFragment();
          for (var i = 0; i < data.details.length; i++) fresh.appendChild(channelRow(data.details[i]));
          rows.replaceChildren(fresh);
          updateTimes(rows);
          showUnreadCounts(rows);
          notifyChannelActivity(data.details);
          if (names) {
            var options = document.createDocumentFragment();
            for (var j = 0; j < data.channels.length; j++) {
              var option = document.createElement("option");
              option.value = data.channels[j];
              options.appendChild(option);
            }
            names.replaceChildren(options);
          }
          setStatus("");
          delay = LIST_POLL_MS;
          window.setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : LIST_POLL_MS);
        },
        function (error) {
          setStatus("reconnecting: " + error.message);
          delay = Math.min(delay * 2, MAX_BACKOFF_MS);
          window.setTimeout(poll, delay);
        }
      );
    }
    window.setTimeout(poll, LIST_POLL_MS);
  }

  // --- the composer -------------------------------------------------------------------------------

  function setupComposer(afterPost) {
    var form = document.getElementById("composer");
    if (!form) return;
    var targetInput = document.getElementById("c-target");
    var senderInput = document.getElementById("c-sender");
    var text = document.getElementById("c-text");
    var send = document.getElementById("c-send");
    var errorBox = document.getElementById("c-error");
    var current = form.getAttribute("data-current");

    var remembered = storageGet("relay.sender");
    if (remembered) senderInput.value = remembered;
    var replyTo = document.getElementById("c-reply-to");
    var rule = targetInput.getAttribute("data-rule") || "";
    targetInput.addEventListener("input", function () {
      targetInput.setCustomValidity(""); // judged again by the pattern on the next submit
    });
    targetInput.addEventListener("invalid", function () {
      if (targetInput.validity.patternMismatch) targetInput.setCustomValidity(rule);
      showError(targetInput.validity.valueMissing ? "Channel is required. " + rule : rule);
    });
    replies.setup(form, replyTo, text);

    function showError(message) {
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
    }

    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit"));
      }
    });

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var target = targetInput.value.trim();
      var sender = senderInput.value.trim();
      if (!target || !sender || !text.value.trim()) {
        showError("Channel, sender and a message are all required.");
        return;
      }
      storageSet("relay.sender", sender);
      send.disabled = true;
      fetch("/api/messages", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(postBody(target, sender, text.value, replyTo)),
      })
        .then(function (response) {
          return response
            .json()
            .catch(function () {
              return { ok: false, error: "HTTP " + response.status };
            })
            .then(function (data) {
              if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
              return data;
            });
        })
        .then(
          function (data) {
            showError("");
            text.value = "";
            send.disabled = false;
            replies.afterPost(data.message.id);
            if (data.message.target !== current) {
              window.location.href = "/channels/" + encodeURIComponent(data.message.target);
            } else if (afterPost) {
              afterPost();
            }
          },
          function (error) {
            showError("Not posted: " + error.message);
            send.disabled = false;
          }
        );
    });
  }

  // --- sender colours: each sender on the page gets its own colour while there are colours left --

  var SENDER_COLOURS = 8;
  var colourOf = {};

  function assignColours(root) {
    var articles = root.querySelectorAll("article.msg[data-sender]");
    for (var i = 0; i < articles.length; i++) {
      var sender = articles[i].getAttribute("data-sender");
      if (!(sender in colourOf)) colourOf[sender] = freeColour(articles[i]);
      for (var c = 0; c < SENDER_COLOURS; c++) articles[i].classList.remove("sender-" + c);
      articles[i].classList.add("sender-" + colourOf[sender]);
    }
  }

  function freeColour(article) {
    // The server's choice (a hash of the name) when no other sender on the page has it yet.
    var match = /\bsender-(\d+)\b/.exec(article.className);
    var preferred = match ? parseInt(match[1], 10) : 0;
    var taken = {};
    for (var name in colourOf) taken[colourOf[name]] = true;
    for (var k = 0; k < SENDER_COLOURS; k++) {
      var candidate = (preferred + k) % SENDER_COLOURS;
      if (!taken[candidate]) return candidate;
    }
    return preferred; // more senders than colours: the hash decides
  }

  // --- threads and replies -----------------------------------------------------------------------

  function threadFilter(list) {
    var root = body.getAttribute("data-thread");
    if (!root) return null;
    var members = {};
    members[root] = true;
    var articles = list.querySelectorAll("article.msg");
    for (var i = 0; i < articles.length; i++) members[articles[i].getAttribute("data-id")] = true;
    return function (message) {
      if (!message.reply_to || !members[String(message.reply_to)]) return false;
      members[String(message.id)] = true;
      return true;
    };
  }

  function postBody(target, sender, text, replyTo) {
    var message = { target: target, sender: sender, text: text };
    var answered = replyTo && parseInt(replyTo.value, 10);
    if (answered) message.reply_to = answered;
    return message;
  }

  var replies = {
    form: null,
    input: null,
    setup: function (form, input, text) {
      this.form = form;
      this.input = input;
      if (!input) return;
      var self = this;
      document.addEventListener("click", function (event) {
        var button = event.target.closest ? event.target.closest(".msg-reply-btn") : null;
        if (!button) return;
        self.set(button.getAttribute("data-id"));
        text.focus();
      });
      var cancel = document.getElementById("c-reply-cancel");
      if (cancel) {
        cancel.addEventListener("click", function () {
          self.set("");
          text.focus();
        });
      }
    },
    set: function (id) {
      if (!this.input) return;
      var shown = document.getElementById("c-replying");
      var previous = document.querySelector("article.msg.replying");
      if (previous) previous.classList.remove("replying");
      this.input.value = id || "";
      shown.hidden = !id;
      document.getElementById("c-reply-id").textContent = id || "";
      document.getElementById("c-reply-link").setAttribute("href", "#m-" + (id || ""));
      var article = id && document.getElementById("m-" + id);
      if (article) article.classList.add("replying");
    },
    afterPost: function (id) {
      // In a thread the next message answers the newest one; elsewhere a reply is a one-off.
      if (!this.form) return;
      this.set(this.form.getAttribute("data-thread") ? String(id) : "");
    },
  };

  // --- receipts and presence: from saved read positions and waits in progress (/api/presence) ----

  var PRESENCE_POLL_MS = 2000;

  var people = {
    members: [],
    decorate: function (list) {
      assignColours(list);
      var replied = {};
      var articles = list.querySelectorAll("article.msg");
      for (var i = 0; i < articles.length; i++) {
        var to = articles[i].getAttribute("data-reply-to");
        if (to) replied[to] = true;
      }
      for (var j = 0; j < articles.length; j++) {
        var thread = articles[j].querySelector(".msg-thread");
        if (thread && replied[articles[j].getAttribute("data-id")]) thread.hidden = false;
      }
      this.showReceipts(list);
    },
    showReceipts: function (list) {
      var articles = list.querySelectorAll("article.msg");
      for (var i = 0; i < articles.length; i++) {
        var id = parseInt(articles[i].getAttribute("data-id"), 10);
        var readers = [];
        for (var m = 0; m < this.members.length; m++) {
          if (this.members[m].read_id >= id) readers.push(this.members[m].identity);
        }
        var box = articles[i].querySelector(".msg-receipts");
        if (!box) continue;
        box.hidden = readers.length === 0;
        box.textContent = readers.length ? "Read by " + readers.join(", ") : "";
      }
    },
    watchPresence: function (target, list) {
      var self = this;
      var panel = document.getElementById("presence");
      function poll() {
        getJSON("/api/presence?target=" + encodeURIComponent(target)).then(
          function (data) {
            self.members = data.members;
            self.showReceipts(list);
            if (panel) showPresence(panel, data.members);
            window.setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : PRESENCE_POLL_MS);
          },
          function () {
            window.setTimeout(poll, MAX_BACKOFF_MS);
          }
        );
      }
      poll();
    },
  };

  function showPresence(panel, members) {
    var items = document.createDocumentFragment();
    for (var i = 0; i < members.length; i++) {
      var member = members[i];
      var item = document.createElement("li");
      item.setAttribute("data-identity", member.identity);
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = member.identity;
      item.appendChild(who);
      var facts = [];
      if (member.waiting_since !== null) {
        var waiting = document.createElement("span");
        waiting.className = "waiting";
        waiting.textContent = " waiting now";
        item.appendChild(waiting);
      }
      if (member.last_post_id !== null) facts.push("posted #" + member.last_post_id + " " + relative(member.last_post_ts));
      facts.push(member.read_id ? "read to #" + member.read_id : "has not read here");
      var detail = document.createElement("span");
      detail.className = "facts";
      detail.textContent = " \u00b7 " + facts.join(" \u00b7 ");
      item.appendChild(detail);
      items.appendChild(item);
    }
    panel.querySelector("ul").replaceChildren(items);
    panel.hidden = members.length === 0;
  }

  // --- unread markers: what this browser has shown the person, per channel (localStorage) --------

  var unread = {
    key: function (target) {
      return "relay.read." + target;
    },
    seen: function (target) {
      var raw = storageGet(this.key(target));
      return raw === null ? null : parseInt(raw, 10) || 0;
    },
    remember: function (target, id) {
      var seen = this.seen(target);
      if (seen === null || id > seen) storageSet(this.key(target), String(id));
    },
    markOnOpen: function (list, target) {
      var seen = this.seen(target);
      if (seen === null) return; // a first visit: nothing to compare with
      var articles = list.querySelectorAll("article.msg");
      for (var i = 0; i < articles.length; i++) {
        if (parseInt(articles[i].getAttribute("data-id"), 10) > seen) {
          placeMarker(articles[i]);
          return;
        }
      }
    },
    markBefore: function (list, messages, keep) {
      // A message arriving while the tab is in the background: the marker goes above the first one.
      if (document.getElementById("unread-marker")) return null;
      for (var i = 0; i < messages.length; i++) {
        if (keep && !keep({ id: messages[i].id, reply_to: messages[i].reply_to })) continue;
        var marker = placeMarker(null);
        list.appendChild(marker);
        return marker;
      }
      return null;
    },
  };

  function placeMarker(before) {
    var marker = document.createElement("div");
    marker.id = "unread-marker";
    marker.className = "unread-marker";
    marker.setAttribute("role", "separator");
    marker.textContent = "New since you last looked";
    if (before) before.parentNode.insertBefore(marker, before);
    return marker;
  }

  function showUnreadCounts(rows) {
    var badges = rows.querySelectorAll(".unread[data-latest]");
    for (var i = 0; i < badges.length; i++) {
      var row = badges[i].closest("tr");
      var target = row.getAttribute("data-target");
      var latest = parseInt(badges[i].getAttribute("data-latest"), 10) || 0;
      var seen = unread.seen(target) || 0;
      var count = Math.max(0, latest - seen);
      badges[i].hidden = count === 0;
      badges[i].textContent = count ? count + " new" : "";
      row.classList.toggle("has-unread", count > 0);
    }
  }

  // --- desktop notifications: opt-in, only for messages that arrive while the tab is hidden -------

  function notificationsOn() {
    return (
      storageGet("relay.notify") === "on" && "Notification" in window && Notification.permission === "granted"
    );
  }

  function notify(title, text, tag) {
    if (!notificationsOn()) return;
    try {
      new Notification(title, { body: text, tag: tag });
    } catch (e) {
      // Some browsers allow notifications only from a service worker: the title counter remains.
    }
  }

  function notifyMessages(target, messages, keep) {
    for (var i = 0; i < messages.length; i++) {
      if (keep && !keep({ id: messages[i].id, reply_to: messages[i].reply_to })) continue;
      notify(messages[i].sender + " in " + target, messages[i].excerpt, "relay-" + target);
    }
  }

  var knownLatest = null;

  function notifyChannelActivity(details) {
    var first = knownLatest === null;
    var previous = knownLatest || {};
    knownLatest = {};
    for (var i = 0; i < details.length; i++) {
      var detail = details[i];
      knownLatest[detail.target] = detail.latest_id;
      if (first || !document.hidden || detail.latest_id <= (previous[detail.target] || 0)) continue;
      notify("New in " + detail.target, (detail.last_sender || "?") + " posted #" + detail.latest_id, "relay-" + detail.target);
    }
  }

  function setupNotifyToggle() {
    var button = document.getElementById("notify-toggle");
    if (!button) return;
    function show() {
      var on = notificationsOn();
      button.textContent = on ? "Notify: on" : "Notify: off";
      button.setAttribute("aria-pressed", on ? "true" : "false");
    }
    button.addEventListener("click", function () {
      if (!("Notification" in window)) {
        setStatus("this browser has no desktop notifications");
        return;
      }
      if (notificationsOn()) {
        storageSet("relay.notify", null);
        show();
        return;
      }
      Notification.requestPermission().then(function (permission) {
        if (permission === "granted") {
          storageSet("relay.notify", "on");
        } else {
          setStatus("notifications are blocked for this site in the browser's settings");
        }
        show();
      });
    });
    show();
  }

  setupTheme();
  setupNotifyToggle();
  updateTimes(document);
  window.setInterval(function () {
    updateTimes(document);
  }, 20000);
  var refresh = null;
  if (page === "channel" || page === "thread") refresh = setupChannel();
  if (page === "search") assignColours(document);
  if (page === "index") setupIndex();
  setupComposer(refresh);
})();
