// Progressive enhancement only: every page works without this script.
// 1. A CSV upload shows its upload progress, then the rows as the server reports them.
// 2. Clicking a read-only share link field selects it, ready to copy.
// 3. The application form: choosing another outcome type swaps in that type's fields (fetched from
//    the server, which renders them) without a reload; without this script the chooser's button
//    loads the form for the chosen type.
"use strict";
(function () {
  function enhanceUpload(form) {
    var box = document.getElementById(form.getAttribute("data-progress"));
    if (!box || !window.XMLHttpRequest || !window.DOMParser) { return; }
    var bar = box.querySelector("progress");
    var text = box.querySelector(".progress-text");
    form.addEventListener("submit", function (event) {
      if (!form.checkValidity()) { return; }
      var report = form.querySelector("select[name=report]");
      if (report && report.value !== "page") { return; } // a report file: the browser downloads it
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      box.hidden = false;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.max = 100; bar.value = pct; text.textContent = pct + "%";
        }
      });
      xhr.addEventListener("progress", function () {
        var body = xhr.responseText || "";
        var total = /data-total="(\d+)"/.exec(body);
        var done = (body.match(/data-row="/g) || []).length;
        if (total) {
          bar.max = Math.max(1, parseInt(total[1], 10));
          bar.value = done;
          text.textContent = done + " / " + total[1];
        }
      });
      xhr.addEventListener("load", function () {
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var main = doc.querySelector("main");
        if (main) {
          document.title = doc.title;
          document.querySelector("main").replaceWith(main);
          main.focus();
        } else {
          form.submit();
        }
      });
      xhr.addEventListener("error", function () { form.submit(); });
      xhr.open("POST", form.action);
      xhr.send(new FormData(form));
    });
  }
  document.querySelectorAll("form[data-progress]").forEach(enhanceUpload);
  function enhanceTypeChooser(chooser) {
    var select = chooser.querySelector("select[name=type]");
    var form = document.getElementById("apply-form");
    if (!select || !form || !window.fetch || !window.DOMParser) { return; }
    var next = chooser.querySelector("button[type=submit]");
    if (next) { next.hidden = true; }
    var asked = 0;
    select.addEventListener("change", function () {
      var kind = select.value;
      var mine = ++asked;
      var url = chooser.action + "?type=" + encodeURIComponent(kind);
      fetch(url + "&part=fields", { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          if (mine !== asked) { return; } // a later choice is on its way
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("type-fields");
          var current = document.getElementById("type-fields");
          if (!fresh || !current) { throw new Error("no fields"); }
          current.replaceWith(document.importNode(fresh, true));
          form.hidden = kind === "";
          if (window.history && history.replaceState) { history.replaceState(null, "", url); }
        })
        .catch(function () { if (kind) { chooser.submit(); } });
    });
  }
  document.querySelectorAll("form#type-chooser").forEach(enhanceTypeChooser);
  document.querySelectorAll("input.copy[readonly]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
