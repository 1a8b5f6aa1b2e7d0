// The top bar's search box: "/" focuses it, and as you type a short list of matching
// tickets appears under it (an ARIA combobox). Without JavaScript the box is a plain form
// that opens the results page.
(() => {
  "use strict";
  const input = document.getElementById("top-search");
  if (!input) return;
  const form = input.form;
  const SUGGESTIONS = 6;
  const WAIT_MS = 180;
  const WHERE = { subject: "in the subject", description: "in the description", message: "in a message", note: "🔒 in an internal note" };

  // "/" anywhere but in a field jumps to the box (the inbox owns the other shortcuts).
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    event.preventDefault();
    input.focus();
    input.select();
  });

  const list = document.createElement("ul");
  list.id = "top-search-list";
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Matching tickets");
  list.hidden = true;
  form.appendChild(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");

  let timer = 0;
  let asked = 0;
  let active = -1;

  function options() {
    return Array.from(list.querySelectorAll("[role=option]"));
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    const all = options();
    all.forEach((el, i) => el.setAttribute("aria-selected", String(i === index)));
    active = index;
    if (index >= 0) input.setAttribute("aria-activedescendant", all[index].id);
    else input.removeAttribute("aria-activedescendant");
  }

  // The snippet is text with highlight ranges (in code points): built from text nodes and
  // <mark> elements, never from HTML.
  function snippet(text, ranges) {
    const chars = Array.from(text);
    const span = document.createElement("span");
    span.className = "snippet";
    let at = 0;
    for (const [start, end] of ranges) {
      if (start > at) span.append(chars.slice(at, start).join(""));
      const mark = document.createElement("mark");
      mark.textContent = chars.slice(start, end).join("");
      span.append(mark);
      at = end;
    }
    if (at < chars.length) span.append(chars.slice(at).join(""));
    return span;
  }

  function show(results) {
    list.replaceChildren();
    results.forEach((r, i) => {
      const li = document.createElement("li");
      li.id = `top-search-option-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.href = `/tickets/${encodeURIComponent(r.ticket.id)}`;
      const title = document.createElement("span");
      title.className = "suggestion-title";
      title.textContent = `#${r.ticket.id} ${r.ticket.subject}`;
      const where = document.createElement("span");
      where.className = "suggestion-where";
      where.textContent = WHERE[r.matched] || r.matched;
      li.append(title, where, snippet(r.snippet, r.highlights));
      li.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep focus in the box until we navigate
        window.location.assign(li.dataset.href);
      });
      list.append(li);
    });
    const all = document.createElement("li");
    all.id = "top-search-option-all";
    all.setAttribute("role", "option");
    all.setAttribute("aria-selected", "false");
    all.className = "suggestion-all";
    all.dataset.href = `/search?q=${encodeURIComponent(input.value.trim())}`;
    all.textContent = results.length ? "See all results" : "No matching tickets — search anyway";
    all.addEventListener("mousedown", (event) => {
      event.preventDefault();
      window.location.assign(all.dataset.href);
    });
    list.append(all);
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  async function suggest() {
    const q = input.value.trim();
    const ticket = ++asked;
    if (q.length < 2) return close();
    try {
      const r = await fetch(`/api/v1/search?limit=${SUGGESTIONS}&q=${encodeURIComponent(q)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!r.ok || ticket !== asked) return;
      const body = await r.json();
      if (ticket === asked && document.activeElement === input) show(body.results);
    } catch {
      // Suggestions are a convenience: the form still works.
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(suggest, WAIT_MS);
  });
  input.addEventListener("blur", () => window.setTimeout(close, 100));
  input.addEventListener("keydown", (event) => {
    const all = options();
    if (event.key === "Escape") {
      if (!list.hidden) {
        event.preventDefault();
        close();
      } else input.blur();
    } else if (event.key === "ArrowDown" && all.length) {
      event.preventDefault();
      highlight((active + 1) % all.length);
    } else if (event.key === "ArrowUp" && all.length) {
      event.preventDefault();
      highlight(active <= 0 ? all.length - 1 : active - 1);
    } else if (event.key === "Enter" && active >= 0 && all[active]) {
      event.preventDefault();
      window.location.assign(all[active].dataset.href);
    }
  });
})();
