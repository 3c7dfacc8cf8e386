// Draws the trends page's charts from its table (the figures are the table's, in minor
// units; the table stays for readers without JavaScript or canvas).
(function () {
  "use strict";
  function draw() {
    var table = document.getElementById("trend-table");
    if (!table || typeof Chart === "undefined") { return; }
    var exp = parseInt(table.dataset.exponent, 10);
    var cur = table.dataset.currency;
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    var major = function (minor) { return parseInt(minor, 10) / Math.pow(10, exp); };
    var fmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: exp, maximumFractionDigits: exp });
    var labels = rows.map(function (r) { return r.dataset.month; });
    var money = { callback: function (v) { return fmt.format(v); } };
    var tip = { callbacks: { label: function (c) { return c.dataset.label + ": " + cur + " " + fmt.format(c.parsed.y); } } };
    [["chart-escrow", "line", [["Escrow held", "escrow", "#2454d6"]]],
     ["chart-income", "bar", [["Platform fees", "fees", "#137a43"], ["Financing fees", "financing", "#b54708"]]]
    ].forEach(function (spec) {
      var canvas = document.getElementById(spec[0]);
      if (!canvas || canvas.dataset.drawn) { return; }
      canvas.dataset.drawn = "1";
      new Chart(canvas, {
        type: spec[1],
        data: { labels: labels, datasets: spec[2].map(function (s) {
          return { label: s[0], data: rows.map(function (r) { return major(r.dataset[s[1]]); }),
                   borderColor: s[2], backgroundColor: s[2], tension: 0.2 };
        }) },
        options: { animation: false, responsive: true, scales: { y: { ticks: money } }, plugins: { tooltip: tip } }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
