// The front page's light refresh: fetch this same page every few seconds and swap in its
// experiments table (rendered and escaped by the server), keeping open run lists open.
(function () {
  "use strict";
  var box = document.getElementById("experiments");
  if (!box) return;
  var seconds = Math.max(1, parseInt(box.getAttribute("data-refresh"), 10) || 3);
  var stamp = document.getElementById("updated");

  function openIds() {
    var ids = [];
    box.querySelectorAll("tr.experiment").forEach(function (row) {
      var d = row.querySelector("details");
      if (d && d.open) ids.push(row.id);
    });
    return ids;
  }

  function refresh() {
    if (document.hidden) return;  // no polling while the tab is in the background
    fetch(window.location.href, {headers: {"Accept": "text/html"}, credentials: "same-origin", cache: "no-store"})
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("experiments");
        if (!fresh) return;
        var keep = openIds();
        box.replaceChildren.apply(box, Array.prototype.slice.call(fresh.childNodes));
        keep.forEach(function (id) {
          var row = document.getElementById(id);
          var d = row && row.querySelector("details");
          if (d) d.open = true;
        });
        if (stamp) stamp.textContent = "; last at " + new Date().toLocaleTimeString();
      })
      .catch(function () {
        if (stamp) stamp.textContent = "; the service did not answer, trying again";
      });
  }

  window.setInterval(refresh, seconds * 1000);
})();
