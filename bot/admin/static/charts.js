/* Draws the overview's charts with uPlot (served from this package: no CDN). The numbers
   come from a JSON element the server rendered; the tables below each chart hold the
   same numbers for anyone without JavaScript. */
(function () {
  "use strict";
  var COLOURS = ["#1f6fb2", "#2b8a3e", "#b07a00", "#7b3fa0", "#0c8599", "#c92a2a"];

  function draw(el, days, series, title) {
    if (!el || typeof uPlot === "undefined") return;
    var xs = days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var names = Object.keys(series);
    var opts = {
      title: title,
      width: el.clientWidth || 600,
      height: 240,
      series: [{}].concat(names.map(function (name, i) {
        return { label: name.replace(/_/g, " "), stroke: COLOURS[i % COLOURS.length], width: 2 };
      })),
      axes: [{}, { size: 40 }],
      scales: { x: { time: true } }
    };
    var plot = new uPlot(opts, [xs].concat(names.map(function (n) { return series[n]; })), el);
    window.addEventListener("resize", function () {
      plot.setSize({ width: el.clientWidth || 600, height: 240 });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var node = document.getElementById("chart-data");
    if (!node) return;
    var data = JSON.parse(node.textContent);
    draw(document.getElementById("funnel-chart"), data.days, data.funnel, "");
    draw(document.getElementById("delivery-chart"), data.days, data.delivery, "");
  });
})();
