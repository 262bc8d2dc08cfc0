"""The monthly evaluation in a real browser: `pnsbox allocate --draft` proposes new plans from a
month of series in the running pnsboxd's store, an admin reviews the draft in the web UI and
applies it with a confirm, and the kernel runs the proposal; the Reports page draws its charts."""

import re
import subprocess
from datetime import UTC, datetime

import pytest
from browserkit import BIN, login, shot, show

from pnsbox.series import SeriesStore, month_bounds

pytestmark = pytest.mark.browser
MBIT = 1_000_000
BUSY = {"dinkes": 60 * MBIT, "bappeda": 20 * MBIT, "diskominfo": 5 * MBIT}  # weekdays 09:00-11:00


def october(state: str) -> None:
    """A month of hourly summaries for October 2026, written into pnsboxd's own series store (the
    daemon samples November meanwhile; a past month's rows are what a month of sampling leaves)."""
    store = SeriesStore(state, 7)
    ids = {key: store.id_of(key) for key in BUSY}
    start, end = month_bounds("2026-10", 7)
    rows = []
    for h in range(start, end, 3600):
        local = datetime.fromtimestamp(h + 7 * 3600, UTC)
        busy = local.weekday() < 5 and 9 <= local.hour < 11
        total = 0
        for key, rate in BUSY.items():
            down = rate if busy else rate // 10
            total += down
            rows.append((h, ids[key], 3_600_000, down * 450, down * 45, down, down // 10, h, h, down, down // 10,
                         0, 0, 0, 0))
        rows.append((h, store.province, 3_600_000, total * 450, total * 45, total, total // 10, h, h, total,
                     total // 10, 0, 0, 0, 0))
    with store.db:
        store.db.execute("BEGIN")
        store.db.executemany("INSERT OR REPLACE INTO hours VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        first_peak = "(SELECT p.h FROM hours p WHERE p.opd = hours.opd AND p.h >= ?1 AND p.h < ?2 ORDER BY " \
            "p.{0}_peak DESC, p.h LIMIT 1)"  # what the roll-ups keep: the first of the highest hours
        store.db.execute("INSERT OR REPLACE INTO month_totals SELECT '2026-10', opd, sum(ms), sum(down_bytes), "
                         "sum(up_bytes), sum(down_drops), sum(up_drops), sum(down_ceil_ms), sum(up_ceil_ms), "
                         f"max(down_peak), max(up_peak), {first_peak.format('down')}, {first_peak.format('up')} "
                         "FROM hours WHERE h >= ?1 AND h < ?2 GROUP BY opd", (start, end))
    store.close()


def dinkes_class(stack) -> str:
    return next(line for line in show(stack).splitlines() if line.startswith("1:110 "))


def test_an_allocation_draft_is_reviewed_and_applied_with_confirm_in_the_browser(page, stack):
    october(stack["state"])
    proposed = subprocess.run([str(BIN / "pnsbox"), "allocate", "--month", "2026-10", "--state-dir", stack["state"],
                               "--draft", "--user", "admin", "--web-state-dir", stack["web_state"]],
                              capture_output=True, text=True)
    assert proposed.returncode == 0, proposed.stderr
    # Every OPD's share of 800 Mbit/s is over the example's 10% limit: each gets the limit, 100 Mbit/s.
    assert "# dinkes: p95 60 Mbit/s at 09:00–11:00 on weekdays; guarantee 50 → 100 Mbit/s (its limit)" in \
        proposed.stdout
    assert re.search(r"\b50mbit\s+200mbit\b", dinkes_class(stack))

    login(page, stack, "admin")
    page.goto(stack["url"] + "/changes/")
    page.wait_for_selector("#draft-diff")
    assert "guaranteed: 100mbit" in page.inner_text("#draft-diff")
    shot(page, "20-allocation-draft")
    page.select_option("select[name=confirm]", "120")
    page.click("#apply-button")
    page.wait_for_selector("#pending .countdown")
    page.click("#confirm-button")
    page.wait_for_selector("text=dikonfirmasi")
    assert re.search(r"\b100mbit\s+200mbit\b", dinkes_class(stack)), "the proposal runs in the kernel"

    page.goto(stack["url"] + "/reports/?month=2026-10&opd=dinkes")
    page.wait_for_selector("#evaluation")
    dinkes = next(line for line in page.inner_text("#evaluation").splitlines() if line.startswith("dinkes\tunduh"))
    assert "Kamis 09:00" in dinkes  # 1 October 2026, a Thursday: the first busy hour of the month
    page.wait_for_selector("#report-curve .uplot")  # the rate curve drew (uPlot, under the CSP)
    painted = page.evaluate("""() => { const c = document.getElementById('report-heatmap');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0; for (let i = 0; i < d.length; i += 4) { if (d[i + 2] - d[i] > 100) blue++; } return blue; }""")
    assert painted > 500, "the heatmap has its busy hours painted"
    shot(page, "21-monthly-evaluation")
