// The staff inbox (templates/inbox_macros.html): the list kept live from /ws/board, the views'
// counts, keyboard shortcuts, and the ways a new message gets an agent's attention (the tab
// title, desktop notifications, an optional sound). Without this file the inbox is a plain
// list of links. Rows are clones of the server's <template id="inbox-row">, filled with
// textContent only. The chat of an open conversation is static/app.js's, untouched here.
"use strict";

(function () {
  const root = document.getElementById("inbox");
  if (!root || !window.CCR) return;
  const { wsBase, liveSocket, stillAllowed, localiseTimes } = window.CCR;
  const me = document.body.dataset.userId;
  const view = root.dataset.view;
  const selected = root.dataset.selected || null;
  const paged = "paged" in root.dataset;
  const list = document.getElementById("inbox-list");
  const empty = document.getElementById("inbox-empty");
  const rowTemplate = document.getElementById("inbox-row");
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  const store = window.localStorage;

  // ------------------------------------------------------------------ which view holds a ticket
  // The same rules as ccr/services/inbox.py's views, applied to the ticket's wire shape.
  function inView(t) {
    const [kind, value] = view.split(/:(.*)/s);
    const open = t.status !== "closed";
    if (view === "mine") return open && !!t.agent && t.agent.id === me;
    if (view === "unassigned") return !t.agent && t.status === "open";
    if (view === "all") return open;
    if (view === "closed") return !open;
    if (kind === "priority") return open && (t.priority || "normal") === value;
    if (kind === "tag") return open && (t.tags || []).includes(value);
    return false;
  }

  // ------------------------------------------------------------------ rows
  function rowOf(id) { return list.querySelector(`li[data-ticket-id="${CSS.escape(String(id))}"]`); }
  function slot(row, name) { return row.querySelector(`[data-slot="${name}"]`); }

  function setTime(node, iso) {
    node.setAttribute("datetime", iso);
    localiseTimes(node.parentNode);
  }

  function setWaiting(row, iso) {
    const box = slot(row, "waiting");
    box.hidden = !iso;
    if (iso) setTime(slot(row, "waiting-time"), iso);
  }

  function setUnread(row, n) {
    slot(row, "unread-count").textContent = n;
    slot(row, "unread").hidden = !n;
    row.classList.toggle("has-unread", n > 0);
  }
  function unreadOf(row) { return Number(slot(row, "unread-count").textContent) || 0; }

  function fill(row, t) {
    const priority = t.priority || "normal";
    const tags = t.tags || [];
    row.dataset.ticketId = t.id;
    row.dataset.status = t.status;
    row.dataset.priority = priority;
    row.dataset.agentId = t.agent ? t.agent.id : "";
    row.dataset.tags = tags.join(" ");
    slot(row, "link").href = `/tickets/${encodeURIComponent(t.id)}?view=${encodeURIComponent(view)}`;
    const take = slot(row, "take"); // queue mode's one-click Take
    if (take) {
      take.action = `/tickets/${encodeURIComponent(t.id)}/take`;
      take.querySelector("button").setAttribute("aria-label", `Take ${t.subject}`);
    }
    slot(row, "customer").textContent = t.customer.name;
    slot(row, "subject").textContent = t.subject;
    slot(row, "agent").textContent = t.agent ? t.agent.name : "Unassigned";
    const badge = slot(row, "status").querySelector(".badge");
    badge.textContent = t.status;
    badge.className = "badge status-" + t.status;
    const prio = slot(row, "priority");
    prio.textContent = priority.charAt(0).toUpperCase() + priority.slice(1);
    prio.className = "prio prio-" + priority;
    prio.hidden = priority === "normal";
    const tagBox = slot(row, "tags");
    const chip = tagBox.querySelector(".tag");
    if (chip) {
      // The template's one chip is the pattern for every tag; kept, hidden, when there is none.
      const chips = tags.map((tag) => {
        const c = chip.cloneNode(false);
        c.hidden = false;
        c.textContent = tag;
        return c;
      });
      if (!chips.length) { chip.hidden = true; chips.push(chip); }
      tagBox.replaceChildren(...chips);
    }
    if (t.status === "closed") setWaiting(row, null);
    if (window.ccrSla && slot(row, "sla")) window.ccrSla.fill(slot(row, "sla"), t); // static/sla.js
  }

  function newRow(t) {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    fill(row, t);
    setUnread(row, 0);
    // A ticket nobody has answered yet has been waiting since it was opened.
    setWaiting(row, t.status !== "closed" && !t.last_seq ? t.created_at : null);
    setTime(slot(row, "activity"), t.updated_at || t.created_at);
    return row;
  }

  // Screen readers hear what arrives in the list (the polite region is in the page).
  const announcer = document.getElementById("inbox-announce");
  function announce(text) { announcer.textContent = ""; setTimeout(() => { announcer.textContent = text; }, 50); }

  function toTop(row) {
    list.prepend(row);
    empty.hidden = true;
    row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash");
  }

  function upsert(t) {
    let row = rowOf(t.id);
    if (paged && !row) return; // an older page only keeps its own rows current
    if (!inView(t)) {
      if (row) row.remove();
      empty.hidden = list.children.length > 0;
      return;
    }
    if (row) fill(row, t);
    else {
      row = newRow(t);
      toTop(row);
      announce(`New in ${document.getElementById("inbox-list-title").textContent}: ${t.subject}, from ${t.customer.name}`);
    }
  }

  function activity(f) {
    const row = rowOf(f.ticket_id);
    const fromOther = !f.sender || f.sender.id !== me;
    if (row) {
      if (fromOther && f.ticket_id !== selected) setUnread(row, unreadOf(row) + 1);
      if (f.sender && f.sender.role === "customer") {
        if (slot(row, "waiting").hidden) setWaiting(row, new Date().toISOString());
      } else if (f.sender && !f.internal) setWaiting(row, null);
      setTime(slot(row, "activity"), new Date().toISOString());
      if (paged) row.remove(); // newer than this page now
      else toTop(row);
    }
    if (fromOther && row && f.ticket_id !== selected) announce(`New message from ${f.sender ? f.sender.name : "someone"}: ${slot(row, "subject").textContent}`);
    if (fromOther) attention(f, row);
  }

  // ------------------------------------------------------------------ counts and the tab title
  function showUnread(n) { document.title = (n ? `(${n > 99 ? "99+" : n}) ` : "") + baseTitle; }

  // Throttled, not debounced: a steady stream of events still refreshes the counts, at most
  // one fetch per pending deadline (a later deadline, e.g. after a read, gets its own).
  let pendingUntil = 0;
  function refreshCounts(delay) {
    const due = Date.now() + delay;
    if (due <= pendingUntil) return;
    pendingUntil = due;
    setTimeout(() => {
      if (Date.now() >= pendingUntil) pendingUntil = 0;
      fetch("/inbox/counts", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : null))
        .then((c) => {
          if (!c) return;
          document.querySelectorAll("[data-count-for]").forEach((node) => {
            const n = c.views[node.dataset.countFor];
            if (n !== undefined) node.textContent = n;
          });
          const shown = new Set([...nav.querySelectorAll("[data-count-for]")].map((n) => n.dataset.countFor));
          const same = shown.size === Object.keys(c.views).length && [...shown].every((key) => key in c.views);
          if (!same) reloadViews(); // a tag came or went
          showUnread(c.unread);
        })
        .catch(() => {});
    }, delay);
  }

  // The server's rendering of this page, parsed (never run): parts of it are moved into place.
  function fetchPage() {
    return fetch(location.href, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => (html ? new DOMParser().parseFromString(html, "text/html") : null))
      .catch(() => null);
  }

  // A tag appeared (or went): the views pane again, its preferences kept as they are.
  const nav = root.querySelector(".inbox-views");
  function reloadViews() {
    fetchPage().then((doc) => {
      const fresh = doc && doc.querySelector("#inbox .inbox-views");
      if (!fresh) return;
      const prefs = document.getElementById("inbox-prefs");
      nav.replaceChildren(...[...fresh.children].filter((n) => n.id !== "inbox-prefs").map((n) => document.adoptNode(n)), prefs);
    });
  }

  function reloadList() {
    fetchPage()
      .then((doc) => {
        const fresh = doc && doc.getElementById("inbox-list");
        if (!fresh) return;
        list.replaceChildren(...[...fresh.children].map((node) => document.adoptNode(node)));
        localiseTimes(list);
        empty.hidden = list.children.length > 0;
        const open = selected && rowOf(selected);
        if (open) setUnread(open, 0);
        refreshCounts(0);
      })
      .catch(() => {});
  }

  // The open conversation's chat marks it read once its socket is up: count again after.
  if (selected) {
    const open = rowOf(selected);
    if (open) setUnread(open, 0); // on screen now, being read
    refreshCounts(1500);
    setTimeout(() => refreshCounts(0), 4000);
  }

  liveSocket(() => `${wsBase}/ws/board`, {
    allowed: () => stillAllowed("/api/v1/me"),
    // Events missed while the socket was down are not replayed: fetch the list afresh (not
    // the page: the open conversation, and what is being typed in it, stay).
    open(reopened) { if (reopened) reloadList(); },
    frame(f) {
      if (f.type === "ticket") { upsert(f.ticket); refreshCounts(300); }
      else if (f.type === "activity") {
        activity(f);
        // On the open conversation the chat marks the message read first; count after it.
        refreshCounts(f.ticket_id === selected ? 1500 : 300);
      } else if (f.type === "resync") reloadList();
    },
  });

  // ------------------------------------------------------------------ attention
  const banner = document.getElementById("notify-banner");
  const canNotify = "Notification" in window;
  const soundToggle = document.getElementById("sound-toggle");
  let soundOn = store.getItem("ccr.sound") === "on";
  document.getElementById("inbox-prefs").hidden = false;

  // Asked once, politely: a banner the agent answers, never a prompt on page load.
  // Only agents have tickets assigned to them, so only they are asked.
  const asks = document.body.dataset.role === "agent" && canNotify && Notification.permission === "default";
  if (asks && !store.getItem("ccr.notify")) banner.hidden = false;
  document.getElementById("notify-enable").addEventListener("click", () => {
    store.setItem("ccr.notify", "asked");
    banner.hidden = true;
    Notification.requestPermission().catch(() => {});
  });
  document.getElementById("notify-later").addEventListener("click", () => {
    store.setItem("ccr.notify", "later");
    banner.hidden = true;
  });

  if (soundToggle) {
    const showSound = () => {
      soundToggle.setAttribute("aria-pressed", String(soundOn));
      soundToggle.classList.toggle("on", soundOn);
    };
    showSound();
    soundToggle.addEventListener("click", () => {
      soundOn = !soundOn;
      store.setItem("ccr.sound", soundOn ? "on" : "off");
      showSound();
      if (soundOn) chime();
    });
  }

  // A soft two-note chime made with WebAudio: no file to fetch, quiet, under half a second.
  let audio = null;
  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const now = audio.currentTime;
      [660, 880].forEach((freq, i) => {
        const osc = audio.createOscillator();
        const gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + i * 0.12);
        gain.gain.exponentialRampToValueAtTime(0.08, now + i * 0.12 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.12 + 0.3);
        osc.connect(gain).connect(audio.destination);
        osc.start(now + i * 0.12);
        osc.stop(now + i * 0.12 + 0.32);
      });
    } catch (err) { /* no audio output: stay silent */ }
  }

  function attention(f, row) {
    // Only for tickets assigned to this user (an agent's board carries nothing else).
    const mine = row ? row.dataset.agentId === me : document.body.dataset.role === "agent";
    if (!mine) return;
    if (soundOn) chime();
    if (!document.hidden || !canNotify || Notification.permission !== "granted") return;
    const subject = row ? slot(row, "subject").textContent : `Ticket #${f.ticket_id}`;
    const note = new Notification(`${f.sender ? f.sender.name : "Someone"} wrote`, {
      body: subject, tag: `ccr-ticket-${f.ticket_id}`,
    });
    note.onclick = () => { window.focus(); location.href = `/tickets/${encodeURIComponent(f.ticket_id)}?view=${encodeURIComponent(view)}`; };
  }

  // ------------------------------------------------------------------ keyboard shortcuts
  const dialog = document.getElementById("shortcuts-dialog");
  document.getElementById("shortcuts-open").addEventListener("click", () => dialog.showModal());

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") !== null;
  }

  function rows() { return [...list.querySelectorAll("li.conv")]; }
  function current() {
    const focused = document.activeElement && document.activeElement.closest("li.conv");
    return focused || list.querySelector("li.cursor") || list.querySelector("li.selected");
  }
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = all[at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step))];
    all.forEach((r) => r.classList.remove("cursor"));
    next.classList.add("cursor");
    slot(next, "link").focus();
  }

  function focusComposer(note) {
    const input = document.getElementById("f-body");
    if (!input || input.disabled) return;
    // The composer's Reply | Note switch (radios named "kind"), when the page has one.
    const kind = document.querySelector(`#composer input[name="kind"][value="${note ? "note" : "reply"}"]`);
    if (kind && !kind.checked && !kind.disabled) kind.click();
    input.focus();
  }

  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || dialog.open) return; // handled already
    if (e.key === "Escape" && e.target.id === "f-body") { e.target.blur(); return; }
    if (typing(e.target)) return;
    const search = document.getElementById("search-box") || document.getElementById("top-search");
    switch (e.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "o": { const row = current(); if (row) location.href = slot(row, "link").href; break; }
      case "r": focusComposer(false); break;
      case "n": focusComposer(true); break;
      case "/": if (!search) return; search.focus(); break;
      case "?": dialog.showModal(); break;
      default: return; // Enter on a focused row is the link's own
    }
    e.preventDefault();
  });

  // Keep the open conversation's row in sight.
  const open = list.querySelector("li.selected");
  if (open) open.scrollIntoView({ block: "nearest" });
})();
