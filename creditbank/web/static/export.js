// Progressive enhancement of the export links (the statistics page): without this script each link
// is a plain download. With it, a click fetches the file, shows a <progress> bar as the body
// arrives and saves the file. The total is the XLSX file's Content-Length in bytes, or the CSV's
// row count (the X-Export-Rows header; the script counts the line ends outside quoted cells).
"use strict";
(function () {
  if (!window.fetch || !window.ReadableStream || !window.Blob || !window.URL) { return; }

  function fileName(response, href) {
    var found = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    return found ? found[1] : href.split("?")[0].split("/").pop();
  }

  function lineEnds(state, bytes) {
    var n = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 34) { state.quoted = !state.quoted; }
      else if (bytes[i] === 10 && !state.quoted) { n++; }
    }
    return n;
  }

  function save(blob, name) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 10000);
  }

  function enhance(link) {
    var box = link.closest("[data-export-box]");
    var list = link.closest("[data-done]");
    var bar = box.querySelector("progress");
    var status = box.querySelector(".export-status");
    link.addEventListener("click", function (event) {
      event.preventDefault();
      if (box.getAttribute("aria-busy") === "true") { return; }
      box.setAttribute("aria-busy", "true");
      bar.hidden = false;
      bar.removeAttribute("value"); // indeterminate until the headers say how much follows
      status.textContent = "";
      var failed = function () {
        box.removeAttribute("aria-busy");
        bar.hidden = true;
        status.textContent = list.getAttribute("data-failed");
      };
      fetch(link.href, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok || !response.body) { failed(); window.location.assign(link.href); return; }
        var rows = parseInt(response.headers.get("X-Export-Rows") || "0", 10) || 0;
        var bytes = parseInt(response.headers.get("Content-Length") || "0", 10) || 0;
        var total = bytes > 0 ? bytes : rows + 1; // the CSV's header line
        var done = 0;
        var state = { quoted: false };
        var parts = [];
        var reader = response.body.getReader();
        bar.max = Math.max(total, 1);
        bar.value = 0;
        var show = function () {
          bar.value = Math.min(done, total);
          status.textContent = bytes > 0
            ? Math.round((100 * Math.min(done, total)) / Math.max(total, 1)) + "%"
            : Math.max(0, Math.min(done, total) - 1) + " / " + rows;
        };
        var pump = function () {
          return reader.read().then(function (chunk) {
            if (chunk.done) {
              show(); // the bar is full when every row (or byte) announced arrived
              save(new Blob(parts, { type: response.headers.get("Content-Type") || "" }),
                fileName(response, link.href));
              status.textContent += " · " + list.getAttribute("data-done");
              box.removeAttribute("aria-busy");
              box.setAttribute("data-finished", "true");
              return undefined;
            }
            parts.push(chunk.value);
            done += bytes > 0 ? chunk.value.length : lineEnds(state, chunk.value);
            show();
            return pump();
          });
        };
        return pump();
      }).catch(failed);
    });
  }

  document.querySelectorAll("a[data-export]").forEach(enhance);
})();
