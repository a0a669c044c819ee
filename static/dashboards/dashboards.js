/* Draws the dashboards' charts with the self-hosted ECharts, from the numbers the page
   carries in <script type="application/json"> (no inline script: CSP-friendly). */
(function () {
  "use strict";
  if (!window.echarts) { return; }
  var palette = ["#0b6bcb", "#14a9a0", "#d25f00", "#c23d6b", "#7a5af8", "#86909c"];

  function days(data) {
    var l = data.labels;
    return {
      color: palette,
      tooltip: { trigger: "axis" },
      legend: { top: 4 },
      grid: { left: 48, right: 48, top: 40, bottom: 28 },
      xAxis: { type: "category", data: data.days },
      yAxis: [{ type: "value" }, { type: "value", position: "right" }],
      series: [
        { name: l.reach, type: "line", yAxisIndex: 1, data: data.reach, smooth: true },
        { name: l.deliveries, type: "bar", data: data.deliveries },
        { name: l.cap_loss, type: "bar", stack: "loss", data: data.cap_loss },
        { name: l.verification_loss, type: "bar", stack: "loss", data: data.verification_loss },
        { name: l.engagement, type: "line", data: data.engagement },
        { name: l.clicks, type: "line", data: data.clicks }
      ]
    };
  }

  function funnel(data) {
    return {
      color: palette,
      tooltip: { trigger: "item" },
      series: [{ type: "funnel", sort: "none", left: 10, right: 10, top: 20, bottom: 10, minSize: "10%",
                 label: { position: "inside", formatter: "{b}\n{c}" }, data: data.funnel }]
    };
  }

  function forecast(data) {
    return {
      color: ["#9fc5ef", "#0b6bcb", "#ffc999", "#d25f00", "#f3b6c9", "#c23d6b"],
      tooltip: { trigger: "axis" },
      legend: { top: 4 },
      grid: { left: 48, right: 16, top: 60, bottom: 28 },
      xAxis: { type: "category", data: data.days },
      yAxis: { type: "value" },
      series: data.series.map(function (s) { return { name: s.name, type: "bar", data: s.values }; })
    };
  }

  var builders = { days: days, funnel: funnel, forecast: forecast };
  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-source"));
    var build = builders[el.getAttribute("data-chart")];
    if (!source || !build) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    var option = build(JSON.parse(source.textContent));
    // Tooltips drawn in the chart's SVG: ECharts' HTML tooltips write style attributes, which the
    // Content Security Policy (style-src 'self') blocks.
    option.tooltip.renderMode = "richText";
    chart.setOption(option);
    el.setAttribute("data-ready", "1");
    charts.push(chart);
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
}());
