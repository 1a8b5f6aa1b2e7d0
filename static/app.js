// Customer Care Registry browser client. Progressive enhancement: every page works without
// it; with it, the ticket page chats live and dashboards update in place.
// User text is only ever inserted with textContent, never innerHTML.
"use strict";

(function () {
  const wsBase = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
  const me = document.body.dataset.userId || null;
  const connBadge = document.getElementById("conn");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const connLabels = {
    live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…",
    offline: "Offline · reconnecting when the network is back", closed: "Disconnected · reload the page",
  };
  function showConnection(state) {
    if (!connBadge) return;
    connBadge.hidden = false;
    connBadge.dataset.state = state;
    connBadge.classList.toggle("ok", state === "live");
    connBadge.textContent = connLabels[state];
  }

  // After refused handshakes: is the session (and access to this page) still there?
  // Network trouble counts as yes, so the socket keeps retrying.
  function stillAllowed(path) {
    return fetch(path, { credentials: "same-origin" })
      .then((r) => r.status !== 401 && r.status !== 403 && r.status !== 404)
      .catch(() => true);
  }

  // Local time for every <time datetime>: the server renders UTC.
  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
  // <time data-rel> reads "3 min ago", <time data-wait> "12 min"; both keep the exact time on
  // hover and are refreshed every minute (ccr/web/formatting.py renders the first paint).
  function ago(d) {
    const s = Math.max(0, (Date.now() - d) / 1000);
    if (s < 60) return "just now";
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    const days = Math.floor(s / 86400);
    if (days === 1) return "yesterday";
    return days < 7 ? `${days} days ago` : dayFormat.format(d);
  }
  function waited(d) {
    const s = Math.max(0, (Date.now() - d) / 1000);
    if (s < 3600) return `${Math.max(1, Math.floor(s / 60))} min`;
    return s < 86400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86400)} d`;
  }
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      if ("rel" in t.dataset) t.textContent = ago(d);
      else if ("wait" in t.dataset) t.textContent = waited(d);
      else t.textContent = t.closest(".msg") ? clockFormat.format(d) : timeFormat.format(d);
      t.title = timeFormat.format(d);
    });
  }
  localiseTimes(document);
  setInterval(() => localiseTimes(document), 60000);

  // Addresses in a message become links: only http, https and mailto, opened in a new tab
  // without a referrer; built as DOM nodes (the text stays text). As formatting.linkify.
  const LINK = /\b(?:https?:\/\/|mailto:)[^\s<>"'`]+/gi;
  const CLOSERS = { ")": "(", "]": "[", "}": "{" };
  function trimLink(url) {
    for (;;) {
      const last = url.slice(-1);
      const count = (c) => url.split(c).length - 1;
      if (last && ".,;:!?*".includes(last)) url = url.slice(0, -1);
      else if (CLOSERS[last] && count(last) > count(CLOSERS[last])) url = url.slice(0, -1);
      else return url;
    }
  }
  function linkified(className, text) {
    const node = el("div", className);
    let position = 0;
    for (const match of text.matchAll(LINK)) {
      const url = trimLink(match[0]);
      if (/^(https?:\/\/|mailto:)$/i.test(url)) continue;
      node.append(text.slice(position, match.index));
      const a = el("a", "", url);
      a.href = url;
      a.rel = "noopener noreferrer nofollow";
      a.target = "_blank";
      node.append(a);
      position = match.index + url.length;
    }
    node.append(text.slice(position));
    return node;
  }

  // A socket that reconnects with exponential backoff and jitter; `url()` is re-read on
  // every attempt so a resume point (after=SEQ) is always current. When the browser says the
  // network is gone the socket is dropped at once (a dead TCP connection can take minutes to
  // notice) and a new one is opened as soon as the network is back. With `heartbeat`, a ping
  // every 20 s must be answered within 10 s, which catches connections that died silently.
  function liveSocket(url, handlers) {
    let attempt = 0;
    let socket = null;
    let stopped = false;
    let retry = null;
    let lastFrame = 0;
    let everOpened = false;

    function end() {
      stopped = true;
      clearTimeout(retry);
      showConnection("closed");
      handlers.ended && handlers.ended();
    }

    function drop() {
      if (!socket) return;
      const old = socket;
      socket = null;
      old.onopen = old.onmessage = old.onclose = old.onerror = null;
      try { old.close(); } catch (err) { /* already closed */ }
      handlers.close && handlers.close();
    }

    function schedule() {
      clearTimeout(retry);
      if (stopped) return;
      if (!navigator.onLine) { showConnection("offline"); return; } // the "online" event resumes
      attempt += 1;
      const delay = Math.min(30000, 500 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random() / 2);
      showConnection("reconnecting");
      retry = setTimeout(connect, delay);
    }

    function connect() {
      clearTimeout(retry);
      drop();
      showConnection(attempt ? "reconnecting" : "connecting");
      const ws = new WebSocket(url());
      socket = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        attempt = 0;
        lastFrame = Date.now();
        showConnection("live");
        handlers.open && handlers.open(everOpened);
        everOpened = true;
      };
      ws.onmessage = (e) => {
        lastFrame = Date.now();
        let frame;
        try { frame = JSON.parse(e.data); } catch (err) { return; }
        handlers.frame(frame);
      };
      ws.onclose = (e) => {
        socket = null;
        handlers.close && handlers.close(e);
        if (e.code === 1008) { end(); return; } // access ended: do not retry
        // A refused handshake looks like any network failure (1006); after a few, ask over
        // HTTP whether we are still allowed in before trying again.
        if (!opened && attempt >= 2 && handlers.allowed) {
          handlers.allowed().then((ok) => { if (ok) schedule(); else end(); });
          return;
        }
        schedule();
      };
    }

    window.addEventListener("offline", () => { drop(); clearTimeout(retry); showConnection("offline"); });
    window.addEventListener("online", () => { if (!stopped && !socket) { attempt = 0; connect(); } });
    if (handlers.heartbeat) {
      setInterval(() => {
        if (!socket || socket.readyState !== WebSocket.OPEN) return;
        if (Date.now() - lastFrame > 30000) { drop(); schedule(); return; }
        if (Date.now() - lastFrame > 20000) socket.send(JSON.stringify({ type: "ping" }));
      }, 5000);
    }
    connect();
    return {
      send(obj) { if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(obj)); return true; } return false; },
      stop() { stopped = true; clearTimeout(retry); drop(); },
    };
  }

  // What static/inbox.js builds on.
  window.CCR = { el, wsBase, liveSocket, stillAllowed, localiseTimes };

  // ---------------------------------------------------------------- ticket page: the chat
  const ticketEl = document.getElementById("ticket");
  if (ticketEl) chat(ticketEl);

  function chat(root) {
    const ticketId = root.dataset.ticketId;
    const list = document.getElementById("messages");
    const form = document.getElementById("composer");
    const input = document.getElementById("f-body");
    const typingEl = document.getElementById("typing");
    const presenceEl = document.getElementById("presence");
    let lastSeq = 0;
    let othersRead = Number(root.dataset.othersRead || 0);
    let status = root.dataset.status;
    let names = {};
    const pending = new Map(); // client_id -> {body, node}
    let typingTimer = null;
    let lastTypingSent = 0;
    let readSent = 0;
    let unseenMarker = null;
    // Staff write replies or internal notes; admins only notes (the server decides the same).
    function noteMode() {
      const note = form && form.querySelector('input[name="kind"][value="note"]');
      return Boolean(note && note.checked);
    }
    function placeholder() { return input.dataset[noteMode() ? "notePlaceholder" : "replyPlaceholder"]; }

    list.querySelectorAll(".msg").forEach((node) => { lastSeq = Math.max(lastSeq, Number(node.dataset.seq)); });
    addDaySeparators();
    updateReceipts();
    list.scrollTop = list.scrollHeight;

    function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }

    function dayKey(iso) { return new Date(iso).toDateString(); }
    function addDaySeparators() {
      let previous = null;
      list.querySelectorAll(".msg").forEach((node) => {
        const t = node.querySelector("time");
        if (!t) return;
        const key = dayKey(t.getAttribute("datetime"));
        if (key !== previous && !(node.previousElementSibling && node.previousElementSibling.classList.contains("day"))) {
          list.insertBefore(el("li", "day", dayFormat.format(new Date(t.getAttribute("datetime")))), node);
        }
        previous = key;
      });
    }

    // A day separator with no message after it (its pending message was replaced) goes.
    function tidyDays() {
      list.querySelectorAll(".day").forEach((d) => {
        const next = d.nextElementSibling;
        if (!next || next.classList.contains("day")) d.remove();
      });
    }

    function lastDay() {
      const msgs = list.querySelectorAll(".msg time");
      return msgs.length ? dayKey(msgs[msgs.length - 1].getAttribute("datetime")) : null;
    }

    function messageNode(m, own) {
      const system = m.sender && m.sender.role === "system"; // the automatic reply (help centre)
      const li = el("li", "msg" + (own ? " own" : "") + (system ? " system" : ""));
      if (m.seq) li.dataset.seq = m.seq;
      const noteLabel = document.getElementById("note-label-template");
      if (m.internal) {
        li.classList.add("note");
        if (noteLabel) li.append(noteLabel.content.cloneNode(true));
      }
      const meta = el("div", "meta");
      if (own || !m.sender) meta.append(el("span", "sender", "You"), " ");
      else meta.append(el("span", "sender", m.sender.name), " ", el("span", "role", system ? "automatic reply" : m.sender.role), " ");
      const t = el("time");
      const when = m.created_at || new Date().toISOString();
      t.setAttribute("datetime", when);
      meta.append(t);
      li.append(meta, linkified("body", m.body));
      if (window.ccrAttachments) window.ccrAttachments.render(li, m.attachments); // static/attachments.js
      localiseTimes(li);
      return li;
    }

    function append(node, iso) {
      const empty = document.getElementById("empty-chat");
      if (empty) empty.remove();
      const stick = nearBottom();
      if (iso && dayKey(iso) !== lastDay()) list.append(el("li", "day", dayFormat.format(new Date(iso))));
      list.append(node);
      if (stick) list.scrollTop = list.scrollHeight;
      else if (!unseenMarker) {
        unseenMarker = el("button", "new-marker", "New messages ↓");
        unseenMarker.type = "button";
        unseenMarker.addEventListener("click", () => { list.scrollTop = list.scrollHeight; });
        list.parentNode.insertBefore(unseenMarker, list.nextSibling);
      }
    }

    list.addEventListener("scroll", () => {
      if (unseenMarker && nearBottom()) { unseenMarker.remove(); unseenMarker = null; sendRead(); }
    });

    // prevSeq: the seq this message follows for us (a customer's skips internal notes).
    function receive(m, prevSeq) {
      if (m.seq <= lastSeq) return; // already shown
      if ((prevSeq === undefined ? m.seq - 1 : prevSeq) > lastSeq) {
        // Try again only if the backfill got somewhere; otherwise the next resume
        // (after=lastSeq) brings it, and we do not hammer the server.
        const before = lastSeq;
        backfill().then(() => { if (lastSeq > before) receive(m, prevSeq); });
        return;
      }
      lastSeq = m.seq;
      const mine = m.sender && m.sender.id === me;
      const waiting = mine && pending.get(m.client_id);
      if (waiting) {
        pending.delete(m.client_id);
        waiting.node.remove();
        tidyDays();
      }
      append(messageNode(m, mine), m.created_at);
      if (!mine) typingEl.textContent = "";
      updateReceipts();
      sendRead();
    }

    let backfilling = null;
    function backfill() {
      // A gap in seq: fetch what is missing over HTTP before showing anything newer.
      if (!backfilling) {
        backfilling = fetch(`/api/v1/tickets/${ticketId}/messages?after=${lastSeq}&limit=500`, { credentials: "same-origin" })
          .then((r) => (r.ok ? r.json() : { messages: [] }))
          // The server sends exactly what we may see after lastSeq, in order.
          .then((data) => { data.messages.forEach((m) => receive(m, lastSeq)); })
          .finally(() => { backfilling = null; });
      }
      return backfilling;
    }

    function updateReceipts() {
      const stick = nearBottom();
      list.querySelectorAll(".receipt").forEach((r) => r.remove());
      const own = [...list.querySelectorAll(".msg.own[data-seq]")].filter((n) => Number(n.dataset.seq) <= othersRead);
      if (own.length) own[own.length - 1].append(el("div", "receipt", "Read ✓✓"));
      if (stick) list.scrollTop = list.scrollHeight;
    }

    function sendRead() {
      if (document.hidden || !nearBottom() || lastSeq <= readSent) return;
      if (socket.send({ type: "read", seq: lastSeq })) readSent = lastSeq;
    }
    document.addEventListener("visibilitychange", sendRead);

    function setStatus(ticket) {
      status = ticket.status;
      root.dataset.status = status;
      const badge = document.querySelector("#ticket-status .badge");
      if (badge) { badge.textContent = status; badge.className = "badge status-" + status; }
      const agent = document.getElementById("ticket-agent");
      if (agent) agent.textContent = ticket.agent ? ticket.agent.name : "Not assigned yet";
      const closed = status === "closed";
      if (form) {
        input.disabled = closed;
        form.querySelector("button").disabled = closed;
        form.querySelectorAll('input[name="kind"]').forEach((r) => { r.disabled = closed; });
        input.placeholder = closed ? "This ticket is closed; the chat is read-only." : placeholder();
      }
      const closeForm = document.getElementById("close-form");
      const reopenForm = document.getElementById("reopen-form");
      if (closeForm) closeForm.hidden = closed;
      if (reopenForm) reopenForm.hidden = !closed;
    }

    const timeline = document.getElementById("timeline");
    function addTimeline(event, ticket) {
      const text = {
        assigned: ticket.agent ? `Assigned to ${ticket.agent.name}` : "Assigned",
        closed: "Closed", reopened: "Reopened",
      }[event];
      if (!timeline || !text) return;
      const li = el("li");
      const t = el("time");
      t.setAttribute("datetime", ticket.updated_at || new Date().toISOString());
      li.append(t, text);
      timeline.append(li);
      localiseTimes(li);
    }

    function showPresence(online) {
      // Besides the customer and the agent, only admins can be in a ticket's room.
      const others = online.filter((id) => id !== me).map((id) => names[id] || "An admin");
      presenceEl.textContent = others.length ? `${others.join(", ")} ${others.length > 1 ? "are" : "is"} here` : "";
    }

    // Staff only: the other staff with this ticket open ("Dana is also viewing · typing…").
    const viewingEl = document.getElementById("viewing");
    function showViewing(users) {
      if (!viewingEl) return;
      const others = users.filter((u) => u.id !== me);
      const typing = others.filter((u) => u.typing).map((u) => u.name);
      let text = "";
      if (others.length === 1) text = `${others[0].name} is also viewing${typing.length ? " · typing…" : ""}`;
      else if (others.length > 1) {
        text = `${others.map((u) => u.name).join(", ")} are also viewing`;
        if (typing.length) text += ` · ${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…`;
      }
      viewingEl.textContent = text;
    }

    const socket = liveSocket(() => `${wsBase}/ws/tickets/${ticketId}?after=${lastSeq}`, {
      heartbeat: true,
      allowed: () => stillAllowed(`/api/v1/tickets/${ticketId}`),
      ended() {
        // Logged out, or no longer this ticket's agent: nothing sent from here will arrive.
        if (form) { input.disabled = true; form.querySelector("button").disabled = true; }
        pending.forEach((p) => { p.node.classList.add("failed"); p.node.append(el("div", "field-error", "Not sent")); });
        pending.clear();
        typingEl.textContent = "You are disconnected from this chat. Reload the page to continue.";
      },
      frame(f) {
        switch (f.type) {
          case "hello":
            names[f.ticket.customer.id] = f.ticket.customer.name;
            if (f.ticket.agent) names[f.ticket.agent.id] = f.ticket.agent.name;
            setStatus(f.ticket);
            showPresence(f.online);
            sendRead(); // opening the chat reads what is already on the page
            // Anything sent but not acknowledged goes out again with its original client_id:
            // the server stores it once however many times it arrives.
            pending.forEach((p, clientId) => socket.send(outgoing(clientId, p.body, p.files, p.internal)));
            break;
          case "message": receive(f.message, f.prev_seq); break;
          case "ack": {
            const p = pending.get(f.client_id);
            if (p) p.node.classList.remove("pending");
            break;
          }
          case "typing":
            typingEl.textContent = `${f.user.name} is typing…`;
            clearTimeout(typingTimer);
            typingTimer = setTimeout(() => { typingEl.textContent = ""; }, 4000);
            break;
          case "read":
            if (f.user_id !== me) { othersRead = Math.max(othersRead, f.seq); updateReceipts(); }
            break;
          case "presence": showPresence(f.online); break;
          case "viewing": showViewing(f.users); break;
          case "ticket":
            if (f.ticket.agent) names[f.ticket.agent.id] = f.ticket.agent.name;
            setStatus(f.ticket);
            addTimeline(f.event, f.ticket);
            document.dispatchEvent(new CustomEvent("ccr:ticket", { detail: f })); // triage.js: badges
            break;
          case "error": {
            const p = f.client_id && pending.get(f.client_id);
            if (p) { p.node.classList.add("failed"); p.node.append(el("div", "field-error", f.message)); pending.delete(f.client_id); }
            else if (f.message) { typingEl.textContent = f.message; }
            break;
          }
        }
      },
    });

    // A message frame; files uploaded beforehand go by id (static/attachments.js).
    function outgoing(clientId, body, files, internal) {
      const frame = { type: "message", client_id: clientId, body };
      if (files && files.length) frame.attachment_ids = files.map((a) => a.id);
      if (internal) frame.internal = true;
      return frame;
    }

    if (form) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const body = input.value.trim();
        const att = window.ccrAttachments; // static/attachments.js: files uploaded in the composer
        if (att && att.busy()) { typingEl.textContent = "Wait for the upload to finish, then send."; return; }
        if ((!body && !(att && att.ready())) || status === "closed") return;
        const files = att ? att.take() : [];
        const clientId = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
        const internal = noteMode();
        const node = messageNode({ body, internal, attachments: files, created_at: new Date().toISOString() }, true);
        node.classList.add("pending");
        pending.set(clientId, { body, files, node, internal });
        append(node, new Date().toISOString());
        list.scrollTop = list.scrollHeight;
        input.value = "";
        socket.send(outgoing(clientId, body, files, internal));
      });
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
      });
      input.addEventListener("input", () => {
        const now = Date.now();
        if (now - lastTypingSent > 2000) { lastTypingSent = now; socket.send({ type: "typing", internal: noteMode() }); }
      });
      // "Reply | Note": a note is drawn (and typed) differently so nobody sends one by mistake.
      form.querySelectorAll('input[name="kind"]').forEach((radio) => radio.addEventListener("change", () => {
        form.classList.toggle("note-mode", noteMode());
        if (!input.disabled) input.placeholder = placeholder();
        input.focus();
      }));
    }
  }

  // ---------------------------------------------------------------- dashboards: live board
  const table = document.getElementById("tickets");
  if (table && !ticketEl) board(table);

  // Column headers sort the rows (in the browser; without JS the list is by last activity).
  function makeSortable(table) {
    const headers = [...table.querySelectorAll("thead th")];
    headers.forEach((th, index) => {
      const label = th.textContent.trim();
      if (!label || label === "Agent" || "nosort" in th.dataset) return;
      const button = el("button", "sort", label);
      button.type = "button";
      th.textContent = "";
      th.append(button);
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const key = (tr) => {
          const cell = tr.children[index];
          if (!cell) return "";
          const time = cell.querySelector("time");
          if (time) return Date.parse(time.getAttribute("datetime")) || 0;
          const text = cell.textContent.trim();
          return text !== "" && !isNaN(Number(text)) ? Number(text) : text.toLowerCase();
        };
        const rows = [...table.tBodies[0].rows];
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        table.tBodies[0].append(...rows);
      });
    });
  }

  function board(table) {
    const role = table.dataset.role;
    const body = table.querySelector("tbody");
    const empty = document.getElementById("tickets-empty");
    const params = new URLSearchParams(location.search);
    const statusFilter = params.get("status");
    const agentFilter = params.get("agent_id");
    const priorityFilter = params.get("priority");
    const tagFilter = (params.get("tag") || "").toLowerCase();
    // Another order than activity (?sort=…): rows stay where the server put them.
    const sorted = (params.get("sort") || "activity") !== "activity";
    if (params.get("cursor")) return; // an older page stays as it is

    function row(id) { return body.querySelector(`tr[data-ticket-id="${CSS.escape(id)}"]`); }

    function matches(t) {
      if (statusFilter && t.status !== statusFilter) return false;
      if (agentFilter && (!t.agent || t.agent.id !== agentFilter)) return false;
      if (priorityFilter && t.priority !== priorityFilter) return false;
      if (tagFilter && !(t.tags || []).includes(tagFilter)) return false;
      if (role === "agent") return t.agent && t.agent.id === me;
      return true;
    }

    // Rows are clones of the server's <template id="board-row">: the markup is written once,
    // in dashboard.html; here only text and attributes are filled in.
    const rowTemplate = document.getElementById("board-row");

    function render(t, tr) {
      const fresh = rowTemplate.content.firstElementChild.cloneNode(true);
      const slot = (name) => fresh.querySelector(`[data-slot="${name}"]`);
      fresh.dataset.ticketId = t.id;
      fresh.dataset.status = t.status;
      slot("id").textContent = t.id;
      slot("subject").textContent = t.subject;
      slot("subject").href = `/tickets/${t.id}`;
      const badge = fresh.querySelector('[data-col="status"] .badge');
      badge.textContent = t.status;
      badge.className = "badge status-" + t.status;
      if (slot("customer")) slot("customer").textContent = t.customer.name;
      const assign = slot("assign");
      if (assign && t.status !== "closed") {
        assign.action = `/tickets/${t.id}/assign`;
        const select = assign.querySelector("select");
        select.id = `assign-${t.id}`;
        assign.querySelector("label").htmlFor = select.id;
        assign.querySelector("label").textContent = `Agent for ticket ${t.id}`;
        select.value = t.agent ? t.agent.id : "";
        slot("agent").remove();
      } else {
        if (assign) assign.remove();
        slot("agent").textContent = t.agent ? t.agent.name : "—";
      }
      slot("activity").setAttribute("datetime", t.updated_at);
      if (window.ccrSla && slot("sla")) window.ccrSla.fill(slot("sla"), t); // static/sla.js
      localiseTimes(fresh);
      if (tr) tr.replaceWith(fresh);
      return fresh;
    }

    function toTop(tr, moved = true) {
      if ((moved && !sorted) || !tr.parentNode) body.prepend(tr);
      table.hidden = false;
      if (empty) empty.hidden = true;
      tr.classList.remove("flash"); void tr.offsetWidth; tr.classList.add("flash");
    }

    function upsert(t, moved) {
      const existing = row(t.id);
      if (!matches(t)) { if (existing) existing.remove(); return; }
      const unread = existing && existing.querySelector('[data-col="unread"]').cloneNode(true);
      const tr = render(t, existing);
      if (unread) tr.querySelector('[data-col="unread"]').replaceWith(unread);
      toTop(tr, moved);
    }

    function bumpUnread(tr) {
      const cell = tr.querySelector('[data-col="unread"]');
      let badgeEl = cell.querySelector(".unread");
      const n = badgeEl ? Number(badgeEl.textContent) + 1 : 1;
      if (!badgeEl) { badgeEl = el("span", "unread"); cell.append(badgeEl); }
      badgeEl.textContent = n;
      badgeEl.setAttribute("aria-label", `${n} unread`);
    }

    function setAgentOnline(userId, online) {
      const chip = document.querySelector(`.agent-chip[data-agent-id="${CSS.escape(userId)}"]`);
      if (!chip) return;
      chip.querySelector(".dot").classList.toggle("online", online);
      const label = chip.querySelector("[data-online]");
      if (label) label.textContent = online ? " · online" : "";
    }

    // The admin's counters (open / assigned / closed, agents' loads) are re-read after
    // ticket events, at most once a second, rather than guessed from partial pages.
    let statsTimer = null;
    function refreshStats() {
      if (role !== "admin" || statsTimer) return;
      statsTimer = setTimeout(() => {
        statsTimer = null;
        fetch("/api/v1/stats", { credentials: "same-origin" })
          .then((r) => (r.ok ? r.json() : null))
          .then((s) => {
            if (!s) return;
            for (const key of ["open", "assigned", "closed"]) {
              const node = document.querySelector(`[data-stat="${key}"]`);
              if (node && s.totals && key in s.totals) node.textContent = s.totals[key];
            }
            (s.open_per_agent || []).forEach((a) => {
              const load = document.querySelector(`.agent-chip[data-agent-id="${CSS.escape(a.agent.id)}"] [data-load]`);
              if (load) load.textContent = a.open_tickets;
            });
          })
          .catch(() => {});
      }, 1000);
    }

    makeSortable(table);

    liveSocket(() => `${wsBase}/ws/board`, {
      allowed: () => stillAllowed("/api/v1/me"),
      // Events missed while the socket was down are not replayed: show the list afresh.
      open(reopened) { if (reopened) location.reload(); },
      frame(f) {
        if (f.type === "ticket") {
          upsert(f.ticket, f.event !== "updated"); // priority and tags are not activity
          refreshStats();
          document.dispatchEvent(new CustomEvent("ccr:ticket", { detail: f })); // triage.js: badges
        }
        else if (f.type === "activity") {
          const tr = row(f.ticket_id);
          if (!tr) return;
          if (!f.sender || f.sender.id !== me) bumpUnread(tr);
          toTop(tr);
        } else if (f.type === "agent_presence") setAgentOnline(f.user_id, f.online);
        else if (f.type === "resync") location.reload(); // events were missed: show the list afresh
      },
    });
  }
})();
