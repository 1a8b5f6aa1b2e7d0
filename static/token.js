// Token pages (verify-email, reset-password): a link may carry its token in the fragment
// (#token=…), which browsers never send to a server or its logs. Put it in the form, which
// POSTs it; and take the token out of the address bar and history either way.
(function () {
  "use strict";
  const form = document.querySelector("form[data-token-form]");
  if (!form) return;
  const input = form.querySelector('input[name="token"]');
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromFragment && !input.value) {
    input.value = fromFragment;
    form.hidden = false;
    const missing = document.querySelector("[data-token-missing]");
    if (missing) missing.hidden = true;
  }
  if (location.search || location.hash) history.replaceState(null, "", location.pathname);
})();
