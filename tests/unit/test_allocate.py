"""Peak-load allocation for a synthetic month: the README's method gives exactly these numbers."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from pnsbox import allocate
from pnsbox.daemon.core import config_of
from pnsbox.series import Reading, SeriesStore

MBIT = 1_000_000
SITE = """\
site:
  name: synthetic
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 100mbit}
opds:
  dinkes:
    name: Dinas Kesehatan
    subnet: 10.21.0.0/24
    link: {interface: opd-dinkes}
    bandwidth: {guaranteed: 40mbit, ceiling: 60mbit}   # the admin's comment stays
  bappeda:
    name: Bappeda
    subnet: 10.22.0.0/24
    link: {interface: opd-bappeda}
    bandwidth: {guaranteed: 20mbit, ceiling: 40mbit}
  dishub:
    name: Dinas Perhubungan
    subnet: 10.23.0.0/24
    link: {interface: opd-dishub}
    bandwidth: {guaranteed: 10mbit, ceiling: 20mbit}
  dispora:
    name: Dinas Pemuda dan Olahraga
    subnet: 10.24.0.0/24
    link: {interface: opd-dispora}
    bandwidth: {guaranteed: 10mbit, ceiling: 20mbit}
policies:
  - {name: internet, from: opds, to: internet, action: accept}
"""


def demand(key: str, weekday: int, hour: int) -> tuple[float, float]:
    """Download and upload rates of each OPD at a local weekday and hour: the province is busy
    09:00-11:00 on weekdays; dispora sends nothing at all."""
    busy = weekday < 5 and 9 <= hour < 11
    return {"dinkes": (30 * MBIT, 5 * MBIT) if busy else (2 * MBIT, MBIT),
            "bappeda": (10 * MBIT, 2 * MBIT) if busy else (MBIT, MBIT / 2),
            "dishub": (MBIT / 2, MBIT / 4)}.get(key, (0, 0))


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """Two weeks of November 2026 (Jakarta time), a sample every half hour."""
    store = SeriesStore(tmp_path_factory.mktemp("series"), 7)
    counters = {key: [0, 0] for key in ("dinkes", "bappeda", "dishub")}
    t = datetime(2026, 11, 1, 17, tzinfo=UTC).timestamp()  # Monday 2 November, 00:00 in Jakarta
    store.record(t, {k: Reading(*v) for k, v in counters.items()})
    for _ in range(14 * 24 * 2):
        local = datetime.fromtimestamp(t + 7 * 3600, UTC)
        for key, counter in counters.items():
            down, up = demand(key, local.weekday(), local.hour)
            counter[0] += int(down * 1800 / 8)
            counter[1] += int(up * 1800 / 8)
        t += 1800
        store.record(t, {k: Reading(*v) for k, v in counters.items()})
    return store


def test_the_busy_hours_and_each_opds_demand_come_from_the_month(month):
    busy, usage = allocate.month_usage(month, "2026-11")
    assert busy == [9, 10]
    assert allocate._p95(usage["dinkes"].busy_p95[0]) == pytest.approx(30 * MBIT)
    assert usage["dinkes"].peak == (pytest.approx(30 * MBIT), pytest.approx(5 * MBIT))
    assert "dispora" not in usage


def test_the_allocation_follows_the_documented_method_with_the_floor_and_the_pipes_total(month):
    busy, usage = allocate.month_usage(month, "2026-11")
    config = config_of({"pnsbox.yaml": SITE})
    result = allocate.allocate(config, "2026-11", busy, usage, floor=5 * MBIT, headroom=0.2)
    got = {p.opd: (p.guarantee // MBIT, p.ceiling // MBIT, p.bound) for p in result.proposals}
    # 80 Mbit/s to share: dishub (0.5) and dispora (0) get the 5 Mbit/s floor; dinkes and bappeda
    # share the other 70 as 30:10 (52.5 and 17.5; the spare unit goes to the first largest remainder).
    assert got == {"dinkes": (53, 100, ""), "bappeda": (17, 34, ""), "dishub": (5, 10, "floor"),
                   "dispora": (5, 10, "floor")}
    assert sum(p.guarantee for p in result.proposals) == result.budget["both"] == 80 * MBIT
    dinkes = next(p for p in result.proposals if p.opd == "dinkes")
    assert dinkes.why == ("p95 30 Mbit/s at 09:00–11:00 on weekdays; guarantee 40 → 53 Mbit/s; "
                          "ceiling 60 → 100 Mbit/s (the pipe)")
    files = allocate.edit_files({"pnsbox.yaml": SITE}, result)
    assert "bandwidth: {guaranteed: 53mbit, ceiling: 100mbit}  # the admin's comment stays" in files["pnsbox.yaml"]
    proposed = config_of(files)
    assert proposed.opds["dishub"].bandwidth.rates("download") == (5 * MBIT, 10 * MBIT)


def test_a_floor_the_pipe_cannot_hold_is_refused_with_the_numbers(month):
    busy, usage = allocate.month_usage(month, "2026-11")
    config = config_of({"pnsbox.yaml": SITE})
    with pytest.raises(allocate.AllocationError, match="more than the pipe less the headroom"):
        allocate.allocate(config, "2026-11", busy, usage, floor=25 * MBIT, headroom=0.2)


def test_pnsbox_allocate_prints_each_opds_reason_and_the_diff_and_saves_a_draft(month, tmp_path):
    from webui.drafts import DraftStore

    site = tmp_path / "site"
    site.mkdir()
    (site / "pnsbox.yaml").write_text(SITE)
    out = subprocess.run([sys.executable, "-m", "pnsbox.cli", "allocate", "--month", "2026-11", "-c", str(site),
                          "--state-dir", str(month.path.parent), "--draft", "--user", "sri",
                          "--web-state-dir", str(tmp_path / "web")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "# dishub: p95 0.5 Mbit/s at 09:00–11:00 on weekdays; guarantee 10 → 5 Mbit/s (the floor)" in out.stdout
    assert "-    bandwidth: {guaranteed: 40mbit, ceiling: 60mbit}" in out.stdout
    assert "+    bandwidth: {guaranteed: 53mbit, ceiling: 100mbit}" in out.stdout
    draft = DraftStore(tmp_path / "web" / "drafts").get("sri")
    assert "{guaranteed: 53mbit, ceiling: 100mbit}" in draft.files["pnsbox.yaml"]
    assert draft.notes[0].startswith("allocation from 2026-11: dinkes p95 30 Mbit/s")
