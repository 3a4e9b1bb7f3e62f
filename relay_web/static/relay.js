// The viewer's behaviour: theme switch, times, composer, live updates, "load older", show more/less.
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

  function insertMessages(list, messages, where, target) {
    var added = [];
    for (var i = 0; i < messages.length; i++) {
      if (document.getElementById("m-" + messages[i].id)) continue; // already shown
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
          var added = insertMessages(list, data.messages, "end", target);
          latestId = Math.max(latestId, data.latest_id);
          var paused = document.getElementById("loop-paused");
          if (paused && data.loop_guard) paused.hidden = !data.loop_guard.paused;
          if (added && pinned) scrollToBottom(); // otherwise the reader's place is kept
          if (added && document.hidden) {
            unseen += added;
            document.title = "(" + unseen + ") " + baseTitle;
          }
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
        schedule(0);
      }
    });

    var older = document.getElementById("load-older");
    older.addEventListener("click", function () {
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
    time.appendChild(rel);
    time.appendChild(document.createTextNode(" "));
    time.appendChild(abs);
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
    function poll() {
      getJSON("/api/channels").then(
        function (data) {
          var fresh = document.createDocumentFragment();
          for (var i = 0; i < data.details.length; i++) fresh.appendChild(channelRow(data.details[i]));
          rows.replaceChildren(fresh);
          updateTimes(rows);
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
        body: JSON.stringify({ target: target, sender: sender, text: text.value }),
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

  setupTheme();
  updateTimes(document);
  window.setInterval(function () {
    updateTimes(document);
  }, 20000);
  var refresh = null;
  if (page === "channel") refresh = setupChannel();
  if (page === "index") setupIndex();
  setupComposer(refresh);
})();
