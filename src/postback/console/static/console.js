// Enhancements only: every page works without this file.
(function () {
  "use strict";

  // Copy buttons next to read-only link fields.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = button.parentElement.querySelector("[data-copy-source]");
    if (!field) return;
    field.select();
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(done, function () {});
    }
  });

  // Macro buttons insert {name} into the template field last focused (URL by default).
  var lastTemplate = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("#url, #body")) lastTemplate = event.target;
  });
  document.addEventListener("click", function (event) {
    var macro = event.target.closest("[data-macro]");
    if (!macro) return;
    var field = lastTemplate || document.getElementById("url");
    if (!field) return;
    var text = macro.getAttribute("data-macro");
    var start = field.selectionStart == null ? field.value.length : field.selectionStart;
    var end = field.selectionEnd == null ? start : field.selectionEnd;
    field.value = field.value.slice(0, start) + text + field.value.slice(end);
    field.focus();
    field.setSelectionRange(start + text.length, start + text.length);
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Charts: each canvas names the JSON block holding its labels and series.
  function drawCharts() {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source || canvas.dataset.drawn) return;
      var data = JSON.parse(source.textContent);
      var colors = ["#2563eb", "#16a34a", "#d97706"];
      canvas.dataset.drawn = "1";
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: data.series.map(function (series, index) {
            return {
              label: series.label,
              data: series.data,
              type: series.axis === "money" ? "line" : "bar",
              yAxisID: series.axis,
              backgroundColor: colors[index % colors.length],
              borderColor: colors[index % colors.length],
              tension: 0.2
            };
          })
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          scales: {
            count: { type: "linear", position: "left", beginAtZero: true },
            money: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false } }
          }
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", drawCharts);
  document.addEventListener("htmx:afterSettle", drawCharts);
})();
