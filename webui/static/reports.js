// The monthly evaluation's charts: an hour-of-day x day heatmap (canvas) and the month's hourly
// rate against the guarantee and ceiling (uPlot), from /api/v1/reports/MONTH/hourly/OPD.
(function () {
  "use strict";
  var box = document.getElementById("report-charts");
  if (!box) { return; }
  fetch(box.dataset.hourlyUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
    .then(function (r) { return r.json(); }).then(function (data) { heatmap(data); curve(data); });

  function heatmap(data) {
    var canvas = document.getElementById("report-heatmap"), g = canvas.getContext("2d");
    var year = +data.month.slice(0, 4), month = +data.month.slice(5, 7);
    var days = new Date(year, month, 0).getDate(), left = 28, top = 14;
    var w = (canvas.width - left) / 24, h = (canvas.height - top) / days;
    var cells = {}, max = 0;
    data.hours.forEach(function (row) {
      cells[row[0]] = row[1];
      max = Math.max(max, row[1]);
    });
    g.font = "10px sans-serif";
    g.fillStyle = "#333";
    for (var hour = 0; hour < 24; hour++) { g.fillText(String(hour).padStart(2, "0"), left + hour * w + 2, 10); }
    for (var day = 1; day <= days; day++) {
      g.fillStyle = "#333";
      g.fillText(String(day), 2, top + (day - 1) * h + h - 2);
      for (hour = 0; hour < 24; hour++) {
        var key = data.month + "-" + String(day).padStart(2, "0") + " " + String(hour).padStart(2, "0");
        var value = cells[key];
        if (value === undefined) { g.fillStyle = "#eeeeee"; } else {
          var share = max ? value / max : 0;  // white (idle) to deep blue (the month's busiest hour)
          g.fillStyle = "rgb(" + Math.round(255 - 247 * share) + "," + Math.round(255 - 207 * share) + "," +
            Math.round(255 - 148 * share) + ")";
        }
        g.fillRect(left + hour * w, top + (day - 1) * h, w - 1, h - 1);
      }
    }
  }

  function curve(data) {
    var el = document.getElementById("report-curve");
    if (typeof uPlot === "undefined" || !data.hours.length) { return; }
    var times = data.hours.map(function (row) { return Date.parse(row[0].replace(" ", "T") + ":00:00Z") / 1000; });
    function planAt(t, index) {
      var value = null;
      data.plans.forEach(function (plan) {
        if (Date.parse(plan[0].replace(" ", "T") + ":00Z") / 1000 <= t + 3599) { value = plan[index] / 1e6; }
      });
      return value;
    }
    var series = [times, data.hours.map(function (r) { return r[1] / 1e6; }),
                  data.hours.map(function (r) { return r[3] / 1e6; }),
                  times.map(function (t) { return planAt(t, 1); }), times.map(function (t) { return planAt(t, 2); })];
    new uPlot({width: el.clientWidth || 900, height: 260, tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
               series: [{}, {label: box.dataset.labelAverage, stroke: "#2171b5", width: 2},
                        {label: box.dataset.labelPeak, stroke: "#9ecae1", width: 1},
                        {label: box.dataset.labelGuarantee, stroke: "#238b45", width: 2},
                        {label: box.dataset.labelCeiling, stroke: "#cb181d", width: 2}],
               axes: [{}, {label: "Mbit/s"}], scales: {y: {range: function (u, min, max) { return [0, Math.max(max || 0, 1)]; }}}},
              series, el);
  }
}());
