// Live graphs: poll /api/v1/live, turn byte counters into rates, draw them with uPlot.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  if (!status || typeof uPlot === "undefined") { return; }
  var url = status.dataset.liveUrl, keep = 150, previous = null;
  var zone = status.dataset.timezone || "Asia/Jakarta";
  var down = status.dataset.download || "download", up = status.dataset.upload || "upload";
  var clockFormat = new Intl.DateTimeFormat("en-GB", {timeZone: zone, hour: "2-digit", minute: "2-digit",
                                                       second: "2-digit", hourCycle: "h23"});
  var stampFormat = new Intl.DateTimeFormat("en-GB", {timeZone: zone, day: "2-digit", month: "2-digit", year: "numeric",
                                                       hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                       hourCycle: "h23"});
  function clock(t) { return clockFormat.format(new Date(t * 1000)); }  // 24-hour, the site's time
  function stamp(t) { return stampFormat.format(new Date(t * 1000)).replace(",", ""); }  // dd/mm/yyyy HH:MM:SS
  var palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

  function makeChart(el, labels, unit) {
    if (!el) { return null; }
    var series = [{value: function (u, v) { return v == null ? "-" : stamp(v); }}].concat(labels.map(function (label, i) {
      return {label: label, stroke: palette[i % palette.length], width: 2,
              value: function (u, v) { return v == null ? "-" : v.toFixed(2) + " " + unit; }};
    }));
    var data = [[]].concat(labels.map(function () { return []; }));
    var chart = new uPlot({width: el.clientWidth || 800, height: 240, series: series,
                           tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); },
                           axes: [{values: function (u, ticks) { return ticks.map(function (t) { return clock(t); }); }},
                                  {label: unit}], scales: {y: {range: function (u, min, max) {
                             return [0, Math.max(max || 0, unit === "%" ? 10 : 1)]; }}}}, data, el);
    return {chart: chart, data: data};
  }
  function push(graph, time, values) {
    if (!graph) { return; }
    graph.data[0].push(time);
    values.forEach(function (v, i) { graph.data[i + 1].push(v); });
    if (graph.data[0].length > keep) { graph.data.forEach(function (s) { s.shift(); }); }
    graph.chart.setData(graph.data);
  }
  function pipeBytes(live, device) {
    var rows = (live.classes || {})[device] || [];
    var pipe = rows.filter(function (r) { return r.label === "pipe"; })[0];
    return pipe ? pipe.bytes : 0;
  }
  function rate(now, before, dt) { return Math.max(0, now - before) * 8 / dt; }

  var opdsEl = document.getElementById("chart-opds"), opdEl = document.getElementById("chart-opd");
  var opdNames = opdsEl ? opdsEl.dataset.opds.split(",").filter(Boolean) : [];
  var uplink = makeChart(document.getElementById("chart-uplink"), [down, up], "%");
  var perOpd = makeChart(opdsEl, opdNames, "Mbit/s");
  var single = makeChart(opdEl, [down + " (rx)", up + " (tx)"], "Mbit/s");

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}}).then(function (r) {
      if (r.status === 401) { location.reload(); throw new Error("signed out"); }
      return r.json();
    }).then(function (live) {
      if (previous) {
        var dt = Math.max(0.001, live.time - previous.time), t = live.time;
        var pipe = live.pipe || {};
        push(uplink, t, [
          100 * rate(pipeBytes(live, "pnsbox-dl"), pipeBytes(previous, "pnsbox-dl"), dt) / (pipe.download || 1),
          100 * rate(pipeBytes(live, "pnsbox-ul"), pipeBytes(previous, "pnsbox-ul"), dt) / (pipe.upload || 1)]);
        push(perOpd, t, opdNames.map(function (name) {
          var now = live.opds[name], before = previous.opds[name];
          return now && before ? rate(now.rx.bytes, before.rx.bytes, dt) / 1e6 : null;
        }));
        if (opdEl) {
          var name = opdEl.dataset.opd, now = live.opds[name], before = previous.opds[name];
          push(single, t, now && before ? [rate(now.rx.bytes, before.rx.bytes, dt) / 1e6,
                                          rate(now.tx.bytes, before.tx.bytes, dt) / 1e6] : [null, null]);
        }
      }
      previous = live;
      status.classList.remove("stale");
    }).catch(function () { status.classList.add("stale"); });
  }
  poll();
  setInterval(poll, 2000);
})();
