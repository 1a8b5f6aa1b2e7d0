// Service-level countdowns (templates/_sla.html): "First response due in 12 min", amber under
// 15 minutes, red once overdue, recounted every 30 s. The server renders the first state, so
// without JavaScript the due time is still there; this only keeps it current.
(() => {
  "use strict";
  const WARN_MS = 15 * 60 * 1000; // the contract's warning: 15 minutes before a due time
  const TICK_MS = 30 * 1000;

  function span(ms) {
    const minutes = Math.max(1, Math.round(Math.abs(ms) / 60000));
    if (minutes < 90) return `${minutes} min`;
    const hours = minutes / 60;
    if (hours < 48) return `${Math.floor(hours)} h ${minutes % 60} min`;
    return `${Math.round(hours / 24)} days`;
  }

  function render(node) {
    const iso = node.dataset.slaDue;
    if (!iso) { node.hidden = true; return; }
    const left = new Date(iso).getTime() - Date.now();
    const target = node.dataset.slaTarget || "response";
    const state = left <= 0 ? "breached" : left <= WARN_MS ? "warning" : "ok";
    const label = target.charAt(0).toUpperCase() + target.slice(1);
    node.querySelector(".sla-text").textContent =
      state === "breached" ? `${label} overdue by ${span(left)}` : `${label} due in ${span(left)}`;
    node.classList.remove("sla-ok", "sla-warning", "sla-breached");
    node.classList.add(`sla-${state}`);
    node.title = `${label} due ${new Date(iso).toLocaleString()}`;
    node.hidden = false;
  }

  // The next unmet target from a ticket's wire shape (the same rule as ccr.services.sla.next_due).
  function fill(node, t) {
    const sla = t.sla;
    let due = null, target = null;
    if (sla && t.status !== "closed") {
      if (sla.first_response_due && !t.first_response_at) { due = sla.first_response_due; target = "first response"; }
      else if (sla.resolution_due) { due = sla.resolution_due; target = "resolution"; }
    }
    if (!due) { delete node.dataset.slaDue; node.hidden = true; return; }
    node.dataset.slaDue = due;
    node.dataset.slaTarget = target;
    render(node);
  }

  function renderAll() { document.querySelectorAll("[data-sla-due]").forEach(render); }
  window.ccrSla = { fill, renderAll };
  renderAll();
  setInterval(renderAll, TICK_MS);
})();
