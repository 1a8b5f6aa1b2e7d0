// While a customer types a new ticket's subject, up to 5 published help-centre articles that
// match it appear under the field ("Does one of these answer it?"). The region is aria-live
// (polite), so screen readers hear that suggestions arrived without losing their place; the
// suggestions are plain links, reached with Tab right after the subject field. Titles are set
// as text, never as HTML.
(function () {
  "use strict";
  var box = document.getElementById("article-suggestions");
  var template = document.getElementById("suggestion-template");
  if (!box || !template) return;
  var input = document.getElementById(box.getAttribute("data-suggest-for"));
  if (!input) return;
  var LIMIT = 5;
  var MIN_CHARS = 3;
  var timer = null;
  var asked = 0;
  var shown = "";

  function render(found) {
    box.textContent = "";
    if (!found.length) return;
    box.append(template.content.cloneNode(true));
    var list = box.querySelector(".suggest-list");
    found.forEach(function (a) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/help/" + encodeURIComponent(a.id);
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = a.title;
      var hint = document.createElement("span");
      hint.className = "sr-only";
      hint.textContent = " (opens in a new tab)";
      link.append(hint);
      li.append(link);
      list.append(li);
    });
  }

  function ask() {
    var q = input.value.trim();
    if (q === shown) return;
    if (q.length < MIN_CHARS) {
      shown = q;
      render([]);
      return;
    }
    var mine = ++asked;
    fetch("/api/v1/articles?limit=" + LIMIT + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (data) {
        if (mine !== asked) return; // a slower, older answer
        shown = q;
        render(data.articles.slice(0, LIMIT));
      })
      .catch(function () { /* suggestions are a help, not a requirement: stay quiet */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 300);
  });
  if (input.value.trim()) ask();
})();
