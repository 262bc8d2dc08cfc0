// Small page helpers (no inline scripts: the Content-Security-Policy forbids them).
(function () {
  "use strict";
  // Confirm countdowns: seconds left until an unconfirmed change is rolled back.
  document.querySelectorAll(".countdown").forEach(function (el) {
    var end = Date.now() + 1000 * Number(el.dataset.left || 0);
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      el.textContent = left + " s";
      if (left === 0) { setTimeout(function () { location.reload(); }, 2500); return; }
      setTimeout(tick, 1000);
    }
    tick();
  });
  // The OPD form: the plan's fields for the mode chosen (both directions, or per direction).
  var modes = document.querySelectorAll("input[name=plan_mode]");
  function showPlan() {
    var chosen = document.querySelector("input[name=plan_mode]:checked");
    document.querySelectorAll("[data-plan]").forEach(function (el) {
      el.hidden = chosen && el.dataset.plan !== chosen.value;
    });
  }
  modes.forEach(function (el) { el.addEventListener("change", showPlan); });
  showPlan();
  // Bars sized from data-width (percent), since inline styles are not allowed.
  document.querySelectorAll("[data-width]").forEach(function (el) {
    el.style.width = Math.max(0, Math.min(100, Number(el.dataset.width))) + "%";
  });
})();
