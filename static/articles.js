// The article editor's live preview: the body is sent to the server, which renders and
// sanitises it exactly as it will serve the article (ccr/services/markdown.py); nothing is
// rendered in the browser. Without this script the form's Preview button does the same.
(function () {
  "use strict";
  var form = document.getElementById("article-form");
  var body = document.getElementById("f-body");
  var out = document.getElementById("article-preview");
  var status = document.getElementById("preview-status");
  if (!form || !body || !out) return;
  var timer = null;
  var sent = 0;

  function refresh() {
    var mine = ++sent;
    fetch("/api/v1/articles/preview", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ body: body.value }),
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (data) {
        if (mine !== sent) return; // an older answer arriving late
        out.innerHTML = data.html; // sanitised by the server's allow-list (nh3)
        out.setAttribute("data-rendered", String(mine));
        if (status) status.textContent = "As customers will see it.";
      })
      .catch(function () {
        if (mine === sent && status) status.textContent = "The preview could not be updated.";
      });
  }

  body.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  if (!out.innerHTML.trim() && body.value.trim()) refresh();
})();
