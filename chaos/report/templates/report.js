// Progressive enhancement only: the page reads the same without this script.
(function () {
  "use strict";
  var table = document.getElementById("scenario-table");
  if (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th button[data-key]").forEach(function (button) {
      button.addEventListener("click", function () {
        var th = button.closest("th");
        var direction = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
        table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", direction);
        var key = button.dataset.key, numeric = button.dataset.type === "num", sign = direction === "ascending" ? 1 : -1;
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.dataset[key] || "", y = b.dataset[key] || "";
          if (numeric) {
            x = x === "" ? -Infinity : parseFloat(x);
            y = y === "" ? -Infinity : parseFloat(y);
            return x === y ? 0 : (x < y ? -sign : sign);
          }
          return x.localeCompare(y) * sign;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
    var controls = document.getElementById("controls");
    var text = document.getElementById("filter-text");
    var verdict = document.getElementById("filter-verdict");
    var baselines = document.getElementById("filter-baselines");
    var shown = document.getElementById("filter-count");
    var apply = function () {
      var needle = text.value.trim().toLowerCase(), count = 0;
      Array.prototype.forEach.call(body.rows, function (row) {
        var visible = (!needle || row.dataset.id.toLowerCase().indexOf(needle) >= 0)
          && (!verdict.value || row.dataset.verdict === verdict.value)
          && (baselines.checked || row.dataset.verdict !== "baseline");
        row.hidden = !visible;
        count += visible ? 1 : 0;
      });
      shown.textContent = count + " of " + body.rows.length + " scenarios shown";
    };
    if (controls) {
      controls.hidden = false;
      [text, verdict, baselines].forEach(function (input) { input.addEventListener("input", apply); });
      apply();
    }
  }
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var command = button.dataset.copy;
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(command).then(done, function () { fallback(command); done(); });
      } else { fallback(command); done(); }
    });
  });
  function fallback(command) {
    var area = document.createElement("textarea");
    area.value = command;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (error) { /* the command stays selectable text */ }
    document.body.removeChild(area);
  }
  function openTarget() {
    var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    for (var node = target; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    if (target) { target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
