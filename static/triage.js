// Priority and tags, live: the ticket page's priority select and tag editor (chips: Enter or
// comma adds, × or Backspace removes; every change saved at once with PATCH), the admin board's
// per-row priority select, and badges kept current from `ticket` events (app.js re-dispatches
// them as `ccr:ticket`). Without JavaScript the same controls are plain forms.
// Badges are cloned from server-rendered <template>s (templates/_badges.html), never rebuilt
// here; user text goes in with textContent only.
"use strict";

(function () {
  const TAG = /^[A-Za-z0-9_-]{1,40}$/;
  const MAX_TAGS = 20;

  function clone(id) {
    const tpl = document.getElementById(id);
    return tpl ? tpl.content.firstElementChild.cloneNode(true) : null;
  }

  function priorityBadge(priority) {
    const badge = clone("tpl-priority-badge");
    if (!badge) return null;
    badge.className = "priority-badge priority-" + priority;
    badge.dataset.priority = priority;
    badge.lastChild.textContent = priority;
    return badge;
  }

  function fillChips(holder, tags) {
    holder.textContent = "";
    if (!tags.length) return;
    const label = document.createElement("span");
    label.className = "sr-only";
    label.textContent = "Tags: ";
    holder.append(label);
    for (const tag of tags) {
      const chip = clone("tpl-tag-chip");
      if (!chip) return;
      chip.textContent = tag;
      holder.append(chip);
    }
  }

  // The badges of one ticket inside `root` (the page header or a board row).
  function showBadges(root, ticket) {
    const badges = root.querySelector("[data-badges]");
    if (!badges) return;
    const old = badges.querySelector("[data-priority]");
    const fresh = priorityBadge(ticket.priority);
    if (old && fresh) old.replaceWith(fresh);
    const chips = badges.querySelector("[data-tags]");
    if (chips) fillChips(chips, ticket.tags || []);
  }

  function patch(ticketId, body) {
    return fetch(`/api/v1/tickets/${encodeURIComponent(ticketId)}`, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then((r) => r.json().then((data) => ({ ok: r.ok, data })));
  }

  // ------------------------------------------------------------------ the ticket page
  const form = document.getElementById("triage-form");
  if (form) ticketPage(form);

  function ticketPage(form) {
    const ticketId = form.dataset.ticketId;
    const select = document.getElementById("f-priority");
    const input = document.getElementById("f-tags");
    const field = document.getElementById("tags-field");
    const error = document.getElementById("e-tags");
    const status = document.getElementById("triage-status");
    const header = document.getElementById("ticket-badges");
    const timeline = document.getElementById("timeline");
    let tags = input.value.split(/[\s,]+/).filter(Boolean).map((t) => t.toLowerCase());
    let priority = select.value;

    // The typed text no longer travels as the form's `tags`: the chips do, in a hidden input.
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "tags";
    input.removeAttribute("name");
    input.value = "";
    input.placeholder = "Add a tag…";
    const editor = document.createElement("div");
    editor.className = "tag-editor";
    const list = document.createElement("ul");
    list.className = "tag-list";
    list.setAttribute("aria-label", "Tags on this ticket");
    input.replaceWith(editor);
    editor.append(list, input);
    field.append(hidden);
    editor.addEventListener("click", (e) => { if (e.target === editor) input.focus(); });
    document.getElementById("triage-save").hidden = true;
    document.getElementById("h-tags").textContent = "Press Enter to add a tag: letters, digits, - and _.";

    function drawChips() {
      list.textContent = "";
      for (const tag of tags) {
        const li = document.createElement("li");
        li.className = "tag-chip editable";
        const name = document.createElement("span");
        name.textContent = tag;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "chip-remove";
        remove.textContent = "×";
        remove.setAttribute("aria-label", `Remove tag ${tag}`);
        remove.addEventListener("click", () => { save({ tags: tags.filter((t) => t !== tag) }); input.focus(); });
        li.append(name, remove);
        list.append(li);
      }
      hidden.value = tags.join(", ");
    }

    function showError(message) {
      error.textContent = message || "";
      error.hidden = !message;
      field.classList.toggle("invalid", !!message);
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }

    // A newer state of the ticket (this page's PATCH answer or anyone's `updated` event,
    // whichever comes first); a change is noted in the timeline once.
    function apply(ticket) {
      if (ticket.priority !== priority) note(`Priority set to ${ticket.priority}`);
      const joined = ticket.tags.join(", ");
      if (joined !== tags.join(", ")) note(joined ? `Tags set to ${joined}` : "Tags cleared");
      priority = ticket.priority;
      tags = ticket.tags.slice();
      select.value = priority;
      drawChips();
      if (header) showBadges(header, ticket);
    }

    function save(change) {
      showError("");
      status.textContent = "Saving…";
      return patch(ticketId, change).then(({ ok, data }) => {
        if (!ok) {
          const err = data.error || {};
          status.textContent = "";
          if (err.fields && err.fields.priority) select.value = priority;
          showError((err.fields && err.fields.tags) || err.message || "Could not save.");
          return false;
        }
        apply(data.ticket);
        status.textContent = "Saved";
        return true;
      }).catch(() => { status.textContent = "Not saved: the network is down."; return false; });
    }

    function addTyped() {
      const typed = input.value.trim().replace(/^#/, "");
      if (!typed) return;
      if (!TAG.test(typed)) { showError("A tag is 1 to 40 letters, digits, - or _."); return; }
      if (tags.includes(typed.toLowerCase())) { input.value = ""; return; }
      if (tags.length >= MAX_TAGS) { showError(`A ticket has at most ${MAX_TAGS} tags.`); return; }
      save({ tags: [...tags, typed] }).then((saved) => { if (saved) input.value = ""; });
    }

    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === ",") { e.preventDefault(); addTyped(); }
      else if (e.key === "Backspace" && !input.value && tags.length) save({ tags: tags.slice(0, -1) });
    });
    input.addEventListener("input", () => showError(""));
    select.addEventListener("change", () => save({ priority: select.value }));
    form.addEventListener("submit", (e) => { e.preventDefault(); addTyped(); });

    function note(text) {
      if (!timeline) return;
      const li = document.createElement("li");
      const time = document.createElement("time");
      time.setAttribute("datetime", new Date().toISOString());
      time.textContent = new Date().toLocaleString();
      li.append(time, " ", text);
      timeline.append(li);
    }

    document.addEventListener("ccr:ticket", (e) => {
      const f = e.detail;
      if (f.ticket && f.ticket.id === ticketId && f.ticket.tags) apply(f.ticket);
    });

    drawChips();
  }

  // ------------------------------------------------------------------ the admin board
  const table = document.getElementById("tickets");
  if (table) board(table);

  function board(table) {
    function enhance(rowForm) {
      const button = rowForm.querySelector("button");
      if (button) button.hidden = true;
      const select = rowForm.querySelector("select");
      select.addEventListener("change", () => {
        const id = rowForm.closest("tr").dataset.ticketId;
        patch(id, { priority: select.value }).then(({ ok, data }) => {
          if (ok) showBadges(rowForm.closest("tr"), data.ticket);
        });
      });
    }
    table.querySelectorAll("form.row-priority").forEach(enhance);

    // app.js redraws a row from each `ticket` event (and dispatches it right after): put the
    // priority cell back after the status, as the server renders it.
    const hasColumn = !!table.querySelector('thead th[data-nosort]');
    document.addEventListener("ccr:ticket", (e) => {
      const t = e.detail.ticket;
      const tr = hasColumn && t && table.querySelector(`tr[data-ticket-id="${CSS.escape(t.id)}"]`);
      if (!tr) return;
      let cell = tr.querySelector('[data-col="priority"]');
      if (!cell) {
        cell = document.createElement("td");
        cell.dataset.col = "priority";
        cell.dataset.label = "Priority";
        tr.querySelector('[data-col="status"]').after(cell);
      }
      if (!cell.querySelector("[data-badges]")) {
        const badges = document.createElement("span");
        badges.className = "ticket-badges";
        badges.dataset.badges = "";
        const chips = document.createElement("span");
        chips.className = "tag-chips";
        chips.dataset.tags = "";
        const placeholder = document.createElement("span");
        placeholder.dataset.priority = "";
        badges.append(placeholder, " ", chips);
        cell.append(badges);
      }
      showBadges(cell, t);
      let rowForm = cell.querySelector("form.row-priority");
      const blank = document.getElementById("tpl-row-priority");
      if (!rowForm && blank) {
        rowForm = blank.content.firstElementChild.cloneNode(true);
        rowForm.action = `/tickets/${t.id}/triage`;
        const select = rowForm.querySelector("select");
        select.id = `priority-${t.id}`;
        const label = rowForm.querySelector("label");
        label.htmlFor = select.id;
        label.textContent = `Priority of ticket ${t.id}`;
        cell.append(rowForm);
        enhance(rowForm);
      }
      if (rowForm) rowForm.querySelector("select").value = t.priority;
    });
  }
})();
