// Refresh the page's live part every N seconds (data-refresh) by fetching ?fragment=1 from the
// same origin; the rest of the page (forms being filled in) and the scroll position stay put.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.refresh) { return; }
  var every = Math.max(1, parseFloat(live.dataset.refresh) || 15) * 1000;
  function refresh() {
    if (document.hidden) { return; }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        var x = window.scrollX, y = window.scrollY;
        live.innerHTML = html;
        window.scrollTo(x, y);
        live.dataset.refreshedAt = String(Date.now());
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
