// Canned replies in the composer: typing "/" in an empty message box (or the "Canned replies"
// button) opens a searchable list — the ARIA combobox pattern: typing filters, ↑/↓ move,
// Enter inserts, Esc closes. The server fills in the placeholders for this ticket
// (GET /api/v1/canned-replies?ticket_id=…, `rendered`); the text is inserted at the caret.
// Everything user-written goes in with textContent only.
"use strict";

(function () {
  const textarea = document.getElementById("f-body");
  const root = document.getElementById("ticket");
  const role = document.body.dataset.role;
  if (!textarea || !root || (role !== "agent" && role !== "admin")) return;
  const composer = textarea.closest("form");
  const ticketId = root.dataset.ticketId;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const openButton = el("button", "small canned-open", "Canned replies");
  openButton.type = "button";
  openButton.setAttribute("aria-haspopup", "listbox");
  openButton.setAttribute("aria-expanded", "false");
  openButton.setAttribute("aria-controls", "canned-popup");
  openButton.title = "Insert a canned reply (type / in an empty message)";

  const popup = el("div", "canned-popup");
  popup.id = "canned-popup";
  popup.hidden = true;
  const label = el("label", "canned-label", "Insert a canned reply");
  label.htmlFor = "canned-search";
  const search = el("input", "canned-search");
  Object.assign(search, { id: "canned-search", type: "text", autocomplete: "off", spellcheck: false });
  search.placeholder = "Search by shortcut, title or text…";
  search.setAttribute("role", "combobox");
  search.setAttribute("aria-autocomplete", "list");
  search.setAttribute("aria-expanded", "true");
  search.setAttribute("aria-controls", "canned-options");
  const list = el("ul", "canned-options");
  list.id = "canned-options";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Canned replies");
  const empty = el("p", "canned-empty muted");
  empty.hidden = true;
  const count = el("p", "sr-only");
  count.setAttribute("role", "status");
  const help = el("p", "canned-help muted", "↑ ↓ choose · Enter insert · Esc close");
  popup.append(label, search, list, empty, count, help);
  // A bar above the composer, outside its form: the form's own buttons stay its only ones.
  const bar = el("div", "composer-bar");
  bar.append(openButton, el("span", "muted composer-tip", "or type / in an empty message"), popup);
  composer.before(bar);
  openButton.disabled = textarea.disabled;
  document.addEventListener("ccr:ticket", (e) => {
    openButton.disabled = e.detail.ticket.status === "closed";
    if (openButton.disabled) close(false);
  });

  let replies = [];
  let active = -1;
  let openedBySlash = false;
  let request = 0;
  let timer = null;
  let loading = false; // a search is on its way: Enter waits for it rather than insert a stale choice
  let insertWhenLoaded = false;

  function isOpen() { return !popup.hidden; }

  function open(bySlash) {
    if (textarea.disabled) return;
    openedBySlash = bySlash;
    popup.hidden = false;
    openButton.setAttribute("aria-expanded", "true");
    search.value = "";
    load("");
    search.focus();
  }

  function close(restoreFocus) {
    insertWhenLoaded = false;
    if (!isOpen()) return;
    popup.hidden = true;
    openButton.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
    if (restoreFocus) textarea.focus();
  }

  function load(q) {
    const mine = ++request;
    loading = true;
    const params = new URLSearchParams({ ticket_id: ticketId });
    if (q) params.set("q", q);
    count.textContent = "Searching…";
    fetch(`/api/v1/canned-replies?${params}`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => { if (mine === request) show(data.canned_replies, q); })
      .catch(() => { if (mine === request) show([], q, "Canned replies could not be loaded."); });
  }

  function show(found, q, failure) {
    replies = found;
    list.textContent = "";
    found.forEach((reply, i) => {
      const option = el("li", "canned-option");
      option.id = `canned-opt-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      const head = el("span", "canned-option-head");
      head.append(el("span", "shortcut", "/" + reply.shortcut), " ", el("strong", "", reply.title));
      option.append(head, el("span", "canned-preview", reply.rendered));
      option.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the search box
      option.addEventListener("click", () => insert(i));
      list.append(option);
    });
    const message = failure || (found.length ? "" : q ? `No canned reply matches “${q}”.` : "No canned replies yet.");
    empty.textContent = message;
    empty.hidden = !message;
    list.hidden = !found.length;
    count.textContent = failure || `${found.length} canned ${found.length === 1 ? "reply" : "replies"}`;
    activate(found.length ? 0 : -1);
    loading = false;
    if (insertWhenLoaded) { insertWhenLoaded = false; insert(active); }
  }

  function activate(index) {
    active = index;
    [...list.children].forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index < 0) { search.removeAttribute("aria-activedescendant"); return; }
    const option = list.children[index];
    search.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }

  function insert(index) {
    const reply = replies[index];
    if (!reply) return;
    close(false);
    textarea.focus();
    textarea.setRangeText(reply.rendered, textarea.selectionStart, textarea.selectionEnd, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  textarea.addEventListener("keydown", (e) => {
    // "/" opens the list only at the start of an empty message; elsewhere it is just a slash.
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && textarea.value.trim() === "") {
      e.preventDefault();
      open(true);
    }
  });
  openButton.addEventListener("click", () => (isOpen() ? close(true) : open(false)));

  search.addEventListener("input", () => {
    loading = true;
    clearTimeout(timer);
    timer = setTimeout(() => load(search.value.trim()), 120);
  });
  search.addEventListener("keydown", (e) => {
    const n = replies.length;
    if (e.key === "ArrowDown" && n) { e.preventDefault(); activate((active + 1) % n); }
    else if (e.key === "ArrowUp" && n) { e.preventDefault(); activate((active - 1 + n) % n); }
    else if (e.key === "Home" && n) { e.preventDefault(); activate(0); }
    else if (e.key === "End" && n) { e.preventDefault(); activate(n - 1); }
    else if (e.key === "Enter") {
      e.preventDefault();
      if (loading) insertWhenLoaded = true;
      else insert(active);
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      const literal = openedBySlash && search.value === "";
      close(true);
      if (literal) textarea.setRangeText("/", textarea.selectionStart, textarea.selectionEnd, "end");
    } else if (e.key === "Tab") close(false);
  });
  document.addEventListener("mousedown", (e) => {
    if (isOpen() && !popup.contains(e.target) && e.target !== openButton) close(false);
  });
})();
