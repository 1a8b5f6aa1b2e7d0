// Attachments in the browser: a file button, drag-and-drop and pasted screenshots in the chat
// composer and on the new-ticket form, upload progress, thumbnails in messages and a viewer.
// Loaded before app.js, which calls window.ccrAttachments to draw a message's files and to
// take the composer's uploaded files when a message is sent. Without JavaScript the same
// forms post the files themselves (multipart), and messages show the same markup as links.
// Names are only ever inserted with textContent.
"use strict";

(function () {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "2.4 MB", as the server's human_size writes it.
  function humanSize(size) {
    let value = size;
    for (const unit of ["bytes", "KB", "MB", "GB"]) {
      if (value < 1024 || unit === "GB") {
        if (unit === "bytes") return `${Math.floor(value)} bytes`;
        return `${value.toFixed(1).replace(/\.0$/, "")} ${unit}`;
      }
      value /= 1024;
    }
    return "";
  }

  // The label on a file card's icon, as the server's file_label writes it.
  function fileLabel(name) {
    const dot = name.lastIndexOf(".");
    const ext = dot >= 0 ? name.slice(dot + 1) : "";
    return /^[A-Za-z0-9]{1,4}$/.test(ext) ? ext.toUpperCase() : "FILE";
  }

  // One attachment as the server renders it: a clone of the page's <template>.
  function item(a) {
    const image = Boolean(a.thumbnail_url);
    const tpl = document.getElementById(image ? "tpl-att-image" : "tpl-att-file");
    const li = tpl.content.firstElementChild.cloneNode(true);
    const link = li.querySelector("a");
    link.href = a.url;
    if (image) {
      const img = li.querySelector("img");
      img.src = a.thumbnail_url;
      img.alt = a.name;
      link.dataset.name = a.name;
      link.dataset.size = humanSize(a.size);
    } else {
      li.querySelector(".att-icon").textContent = fileLabel(a.name);
      li.querySelector(".att-name").textContent = a.name;
      li.querySelector(".att-size").textContent = humanSize(a.size);
    }
    return li;
  }

  function render(node, attachments) {
    if (!attachments || !attachments.length || !document.getElementById("tpl-att-file")) return;
    const list = el("ul", "attachments");
    attachments.forEach((a) => list.append(item(a)));
    node.append(list);
  }

  // ---------------------------------------------------------------- the image viewer
  const viewer = document.getElementById("att-viewer");
  if (viewer && typeof viewer.showModal === "function") {
    const img = viewer.querySelector("img");
    document.addEventListener("click", (e) => {
      const link = e.target.closest && e.target.closest("a.att-thumb");
      if (!link || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      img.src = link.href;
      img.alt = link.dataset.name || "";
      viewer.querySelector(".att-viewer-name").textContent = link.dataset.name || "";
      viewer.querySelector(".att-viewer-size").textContent = link.dataset.size || "";
      viewer.querySelector(".att-viewer-open").href = link.href;
      viewer.showModal(); // Esc closes it; focus returns to the thumbnail
    });
    // A click on the dimmed backdrop (the dialog itself, outside its content) closes too.
    viewer.addEventListener("click", (e) => { if (e.target === viewer) viewer.close(); });
    viewer.addEventListener("close", () => { img.removeAttribute("src"); });
  }

  // Files from a paste or a drop; a pasted screenshot arrives as "image.png": name it.
  function filesOf(transfer) {
    if (!transfer) return [];
    return [...transfer.files].map((file) => {
      if (file.name && file.name !== "image.png") return file;
      const stamp = new Date().toISOString().slice(0, 19).replace("T", " ").replace(/:/g, ".");
      return new File([file], `Screenshot ${stamp}.${(file.type.split("/")[1] || "png").replace("jpeg", "jpg")}`, { type: file.type });
    });
  }

  function dropZone(zone, onFiles) {
    let depth = 0;
    const dragging = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    zone.addEventListener("dragenter", (e) => { if (!dragging(e)) return; depth += 1; zone.classList.add("att-dragover"); });
    zone.addEventListener("dragleave", () => { depth = Math.max(0, depth - 1); if (!depth) zone.classList.remove("att-dragover"); });
    zone.addEventListener("dragover", (e) => { if (dragging(e)) e.preventDefault(); });
    zone.addEventListener("drop", (e) => {
      if (!dragging(e)) return;
      e.preventDefault();
      depth = 0;
      zone.classList.remove("att-dragover");
      onFiles(filesOf(e.dataTransfer));
    });
  }

  function errorText(xhr) {
    try { return JSON.parse(xhr.responseText).error.message; } catch (err) { return "Upload failed; try again."; }
  }

  // ---------------------------------------------------------------- the chat composer
  const ticketEl = document.getElementById("ticket");
  const composer = document.getElementById("composer");
  let uploads = []; // {file, node, xhr, attachment|null, failed}

  function chatComposer(form) {
    const ticketId = ticketEl.dataset.ticketId;
    const input = form.querySelector('input[type="file"]');
    const text = form.querySelector("textarea");
    const max = Number(form.dataset.maxUpload || 0);
    const tray = el("ul", "att-tray");
    tray.setAttribute("aria-label", "Files to send");
    tray.hidden = true;
    form.before(tray);
    const status = el("p", "sr-only");
    status.setAttribute("role", "status");
    form.before(status);
    form.classList.add("js-att");

    function refresh() {
      tray.hidden = uploads.length === 0;
    }

    function remove(entry) {
      if (entry.xhr && !entry.attachment) entry.xhr.abort();
      uploads = uploads.filter((u) => u !== entry);
      entry.node.remove();
      refresh();
      text.focus();
    }

    function add(file) {
      if (text.disabled) return;
      const entry = { file, node: el("li", "att-pending"), xhr: null, attachment: null, failed: false };
      const name = el("span", "att-name", file.name);
      const size = el("span", "att-size", humanSize(file.size));
      const bar = el("progress", "att-progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", `Uploading ${file.name}`);
      const removeButton = el("button", "att-remove", "✕");
      removeButton.type = "button";
      removeButton.setAttribute("aria-label", `Remove ${file.name}`);
      removeButton.addEventListener("click", () => remove(entry));
      const info = el("span", "att-info");
      info.append(name, " ", size);
      entry.node.append(el("span", "att-icon", fileLabel(file.name)), info, bar, removeButton);
      uploads.push(entry);
      tray.append(entry.node);
      refresh();
      if (max && file.size > max) { fail(entry, `Too large: files are limited to ${humanSize(max)}.`); return; }
      if (!file.size) { fail(entry, "This file is empty."); return; }

      const xhr = new XMLHttpRequest();
      entry.xhr = xhr;
      xhr.open("POST", `/api/v1/tickets/${ticketId}/attachments`);
      xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100); });
      xhr.addEventListener("load", () => {
        if (xhr.status !== 201) { fail(entry, errorText(xhr)); return; }
        entry.attachment = JSON.parse(xhr.responseText).attachment;
        bar.remove();
        entry.node.classList.add("att-ready");
        if (entry.attachment.thumbnail_url) {
          const thumb = el("img", "att-preview");
          thumb.src = entry.attachment.thumbnail_url;
          thumb.alt = "";
          entry.node.querySelector(".att-icon").replaceWith(thumb);
        }
        status.textContent = `${file.name} is ready to send.`;
      });
      xhr.addEventListener("error", () => fail(entry, "Upload failed; check the connection and try again."));
      const data = new FormData();
      data.append("file", file, file.name);
      xhr.send(data);
    }

    function fail(entry, message) {
      entry.failed = true;
      entry.node.classList.add("att-failed");
      const bar = entry.node.querySelector("progress");
      if (bar) bar.remove();
      entry.node.querySelector(".att-info").append(el("span", "field-error", message));
      status.textContent = `${entry.file.name}: ${message}`;
    }

    input.addEventListener("change", () => {
      [...input.files].forEach(add);
      input.value = ""; // the files went up on their own; the form carries none
    });
    text.addEventListener("paste", (e) => {
      const files = filesOf(e.clipboardData);
      if (!files.length) return;
      e.preventDefault();
      files.forEach(add);
    });
    dropZone(form.closest(".chat-panel") || form, (files) => files.forEach(add));
    // A closed ticket (app.js disables the text box) takes no files either.
    const sync = () => { input.disabled = text.disabled; };
    new MutationObserver(sync).observe(text, { attributes: true, attributeFilter: ["disabled"] });
    sync();
  }

  if (ticketEl && composer) chatComposer(composer);

  // ---------------------------------------------------------------- the new-ticket form
  const newTicket = document.getElementById("new-ticket");
  if (newTicket) ticketForm(newTicket);

  function ticketForm(form) {
    const input = form.querySelector('input[type="file"]');
    const max = Number(form.dataset.maxUpload || 0);
    const tooLarge = (f) => max && f.size > max;
    const list = el("ul", "att-tray");
    list.setAttribute("aria-label", "Files to send");
    (input.closest(".field") || input.parentNode).append(list);
    const progress = el("progress", "att-progress");
    progress.max = 100;
    progress.hidden = true;
    progress.setAttribute("aria-label", "Sending the ticket");
    form.querySelector("button.primary").after(progress);

    // The input's own FileList is what the form sends; dropped and pasted files join it.
    function addFiles(files) {
      const all = new DataTransfer();
      [...input.files, ...files].forEach((f) => all.items.add(f));
      input.files = all.files;
      show();
    }
    function show() {
      list.textContent = "";
      [...input.files].forEach((f, index) => {
        const li = el("li", "att-pending att-ready");
        const info = el("span", "att-info");
        info.append(el("span", "att-name", f.name), " ", el("span", "att-size", humanSize(f.size)));
        const removeButton = el("button", "att-remove", "✕");
        removeButton.type = "button";
        removeButton.setAttribute("aria-label", `Remove ${f.name}`);
        removeButton.addEventListener("click", () => {
          const kept = new DataTransfer();
          [...input.files].forEach((g, i) => { if (i !== index) kept.items.add(g); });
          input.files = kept.files;
          show();
        });
        if (tooLarge(f)) {
          li.classList.add("att-failed");
          info.append(el("span", "field-error", `Too large: files are limited to ${humanSize(max)}.`));
        }
        li.append(el("span", "att-icon", fileLabel(f.name)), info, removeButton);
        list.append(li);
      });
    }
    input.addEventListener("change", show);
    form.addEventListener("paste", (e) => {
      const files = filesOf(e.clipboardData);
      if (files.length) { e.preventDefault(); addFiles(files); }
    });
    dropZone(form, addFiles);

    // With files, send the form with a progress bar; the server answers with the new ticket's
    // page (after its redirect), or the form again with what was wrong.
    form.addEventListener("submit", (e) => {
      if (!input.files.length) return; // nothing slow to show
      e.preventDefault();
      if ([...input.files].some(tooLarge)) { input.focus(); return; } // the list says which
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      progress.hidden = false;
      progress.value = 0;
      form.querySelector("button.primary").disabled = true;
      xhr.upload.addEventListener("progress", (ev) => { if (ev.lengthComputable) progress.value = Math.round((ev.loaded / ev.total) * 100); });
      xhr.addEventListener("load", () => {
        if (xhr.status === 200 && /\/tickets\/\d+$/.test(new URL(xhr.responseURL).pathname)) {
          location.assign(xhr.responseURL);
        } else {
          HTMLFormElement.prototype.submit.call(form); // let the server show its answer as a page
        }
      });
      xhr.addEventListener("error", () => HTMLFormElement.prototype.submit.call(form));
      xhr.send(new FormData(form));
    });
  }

  window.ccrAttachments = {
    render,
    // The composer's uploaded files, ready to go with the next message (and cleared from the
    // tray); null while one is still uploading, so nothing is sent without it.
    take() {
      if (uploads.some((u) => !u.attachment && !u.failed)) return null;
      const ready = uploads.filter((u) => u.attachment).map((u) => u.attachment);
      uploads.forEach((u) => u.node.remove());
      uploads = [];
      const tray = document.querySelector(".att-tray");
      if (tray) tray.hidden = true;
      return ready;
    },
    busy() { return uploads.some((u) => !u.attachment && !u.failed); },
    ready() { return uploads.filter((u) => u.attachment).length; },
  };
})();
