"""The rate series store and the monthly report computed from it, fed counters as pnsboxd reads them."""

from datetime import UTC, datetime

from pnsbox.report.compute import heatmap, hourly, month_report
from pnsbox.series import Plan, Reading, SeriesStore, bucket, bucket_rate, percentile

MBIT = 1_000_000
JAKARTA = 7


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


class Box:
    """The kernel's counters: they grow with what is sent and start again at a reload."""

    def __init__(self):
        self.counters: dict[str, list[int]] = {}
        self.sent: dict[str, list[int]] = {}

    def send(self, key: str, down_rate: float, up_rate: float, seconds: float) -> None:
        moved = [int(down_rate * seconds / 8), int(up_rate * seconds / 8)]
        counter = self.counters.setdefault(key, [0, 0])
        total = self.sent.setdefault(key, [0, 0])
        for i in range(2):
            counter[i] += moved[i]
            total[i] += moved[i]

    def reload(self) -> None:
        self.counters = {key: [0, 0] for key in self.counters}

    def readings(self) -> dict[str, Reading]:
        return {key: Reading(down, up) for key, (down, up) in self.counters.items()}


def run(store: SeriesStore, box: Box, start: float, minutes: int, rates, step: float = 60.0) -> float:
    """Send `rates(key, t)` -> (down, up) for each OPD, one sample a minute; returns the end time."""
    t = start
    for _ in range(minutes):
        for key in list(box.counters):
            box.send(key, *rates(key, t), step)
        t += step
        store.record(t, box.readings(), {"dinkes": Plan(40 * MBIT, 100 * MBIT, 20 * MBIT, 50 * MBIT)})
    return t


def test_buckets_are_one_percent_wide_and_the_p95_is_the_rate_held_95_percent_of_the_time():
    for rate in (1234.0, 9.9e6, 38e6, 1e9):
        assert abs(bucket_rate(bucket(rate)) - rate) / rate < 0.006
    weights = {bucket(10e6): 90.0, bucket(50e6): 10.0}  # 10% of the time at 50 Mbit/s
    assert abs(percentile(weights) - 50e6) / 50e6 < 0.006
    assert abs(percentile({bucket(10e6): 96.0, bucket(50e6): 4.0}) - 10e6) / 10e6 < 0.006


def test_a_days_report_has_the_bytes_sent_the_p95_the_peak_and_when_it_happened(tmp_path):
    store, box = SeriesStore(tmp_path, JAKARTA), Box()
    box.counters = {"dinkes": [0, 0], "bappeda": [0, 0]}
    monday = utc(2026, 11, 1, 17)  # Monday 2 November, 00:00 in Jakarta
    store.record(monday, box.readings())

    def rates(key, t):
        hour = datetime.fromtimestamp(t, UTC).hour + JAKARTA
        if key == "dinkes":
            return (95 * MBIT, 10 * MBIT) if 9 <= hour % 24 < 11 else (MBIT, MBIT)
        return 5 * MBIT, 2 * MBIT

    end = run(store, box, monday, 24 * 60, rates)
    found = month_report(store, "2026-11")
    dinkes = found["opds"]["dinkes"]
    assert dinkes["down"]["bytes"] == box.sent["dinkes"][0]
    assert abs(dinkes["down"]["peak"] - 95 * MBIT) < 0.001 * 95 * MBIT
    assert abs(dinkes["down"]["p95"] - 95 * MBIT) / (95 * MBIT) < 0.006  # 2 of 24 hours is more than 5%
    assert abs(dinkes["up"]["p95"] - 10 * MBIT) / (10 * MBIT) < 0.006
    assert dinkes["down"]["peak_hour"] == 9 and dinkes["down"]["peak_weekday"] == "monday"
    assert dinkes["down"]["hours_near_ceiling"] == 2.0  # 95 of a 100 Mbit/s ceiling
    assert abs(dinkes["down"]["utilisation"] - 95 / 40) < 0.02
    assert abs(dinkes["down"]["average"] - (22 * MBIT + 2 * 95 * MBIT) / 24) < 0.001 * MBIT
    bappeda = found["opds"]["bappeda"]
    assert abs(bappeda["down"]["p95"] - 5 * MBIT) / (5 * MBIT) < 0.006
    assert bappeda["down"]["guarantee"] == 0 and bappeda["down"]["utilisation"] is None
    province = found["province"]["down"]
    assert abs(province["peak"] - 100 * MBIT) < 0.001 * 100 * MBIT
    assert province["peak_hour_start"].endswith("09:00")
    assert abs(province["shares"]["dinkes"] - 0.95) < 0.001
    # The open hour counts too: one more minute after midnight is in the report.
    run(store, box, end, 1, rates)
    assert month_report(store, "2026-11")["opds"]["dinkes"]["down"]["bytes"] == box.sent["dinkes"][0]
    grid = heatmap(hourly(store, "2026-11", "dinkes"))
    assert len(grid) == 30 and abs(grid[1][9] - 95 * MBIT) < 0.001 * MBIT and grid[0][9] is None


def test_a_month_across_a_restart_a_counter_reset_and_renamed_added_and_removed_opds(tmp_path):
    box = Box()
    box.counters = {"dinkes": [0, 0], "bappeda": [0, 0], "dishub": [0, 0]}
    store = SeriesStore(tmp_path, JAKARTA)
    t = utc(2026, 11, 10, 1)
    store.record(t, box.readings())
    steady = lambda key, t: (8 * MBIT, 2 * MBIT)  # noqa: E731
    t = run(store, box, t, 90, steady)
    store.close()  # pnsboxd stops; the kernel keeps counting for ten minutes
    for key in box.counters:
        box.send(key, 8 * MBIT, 2 * MBIT, 600)
    t += 600
    store = SeriesStore(tmp_path, JAKARTA)
    store.record(t, box.readings())
    t = run(store, box, t, 30, steady)
    box.send("dinkes", 8 * MBIT, 2 * MBIT, 20)
    store.record(t + 20, box.readings(), min_seconds=30)  # sampled just before a reload: carried
    box.reload()  # the counters start again
    t = run(store, box, t + 20, 30, steady)
    # A new config: bappeda is renamed bapperida, dispora is added, dishub is removed.
    box.counters["bapperida"] = box.counters.pop("bappeda")
    box.counters["dispora"] = [0, 0]
    del box.counters["dishub"]
    box.reload()
    t = run(store, box, t, 120, steady)
    found = month_report(store, "2026-11")["opds"]
    for key in ("dinkes", "bappeda", "bapperida", "dishub", "dispora"):
        assert found[key]["down"]["bytes"] == box.sent[key][0], key
        assert found[key]["up"]["bytes"] == box.sent[key][1], key
        assert abs(found[key]["down"]["peak"] - 8 * MBIT) < 0.01 * MBIT, key  # no burst made up by a reset
    assert found["dishub"]["seconds"] < found["dinkes"]["seconds"]
    assert set(found) == {"dinkes", "bappeda", "bapperida", "dishub", "dispora"}
    assert month_report(store, "2026-11", visible={"dispora"})["opds"].keys() == {"dispora"}
    assert "province" not in month_report(store, "2026-11", visible={"dispora"})


def test_old_samples_and_hours_are_pruned_so_the_file_stays_bounded(tmp_path):
    store, box = SeriesStore(tmp_path, JAKARTA), Box()
    box.counters = {"dinkes": [0, 0]}
    t = utc(2026, 1, 1)
    store.record(t, box.readings())
    run(store, box, t, 3, lambda k, t: (MBIT, MBIT))
    later = t + 40 * 86400
    run(store, box, later, 61, lambda k, t: (MBIT, MBIT))
    (oldest,) = store.db.execute("SELECT min(t) FROM samples").fetchone()
    assert oldest / 1000 > later - 36 * 86400
    assert store.db.execute("SELECT count(DISTINCT h) FROM hours WHERE h < ?", (t + 86400,)).fetchone()[0] == 1
    run(store, box, t + 800 * 86400, 61, lambda k, t: (MBIT, MBIT))
    assert store.db.execute("SELECT count(*) FROM hours WHERE h < ?", (t + 86400,)).fetchone()[0] == 0


def test_the_pdf_has_a_title_page_in_bahasa_indonesia_or_english_and_a_page_per_opd(tmp_path):
    from pnsbox.report import pdf

    store, box = SeriesStore(tmp_path, JAKARTA), Box()
    box.counters = {"dinkes": [0, 0], "bappeda": [0, 0]}
    t = utc(2026, 11, 1, 17)
    store.record(t, box.readings(), site="Provinsi Contoh")
    run(store, box, t, 6 * 60, lambda key, t: (20 * MBIT, 2 * MBIT) if key == "dinkes" else (5 * MBIT, MBIT))
    found = month_report(store, "2026-11")
    hourly_data = {key: hourly(store, "2026-11", key) for key in [*found["opds"], "*"]}
    for language, title, month in (("id", "Evaluasi Bulanan Penggunaan Jaringan", "November 2026"),
                                   ("en", "Monthly Network Usage Evaluation", "November 2026")):
        out = tmp_path / f"report-{language}.pdf"
        pdf.write(found, hourly_data, out, language=language, compress=False)
        data = out.read_bytes()
        assert data.startswith(b"%PDF-")
        assert title.encode() in data and b"Provinsi Contoh" in data and month.encode() in data
        assert data.count(b"/Type /Page") - data.count(b"/Type /Pages") == 5  # title, province, table, 2 OPDs
        assert b"dinkes" in data and b"bappeda" in data
    assert b"Rata-rata unduh per jam" in (tmp_path / "report-id.pdf").read_bytes()


def test_each_opds_top_categories_count_across_a_reload_and_show_in_the_table_csv_and_pdf(tmp_path):
    from pnsbox.report import pdf, text

    store, box = SeriesStore(tmp_path, JAKARTA), Box()
    box.counters = {"dinkes": [0, 0], "bappeda": [0, 0]}
    t = utc(2026, 11, 2, 2)
    kernel = {"dinkes": {"video": 0, "web": 0}, "bappeda": {"e-government": 0}}  # the kernel's dynamic sets
    store.record(t, box.readings(), opd_categories=kernel)
    for minute in range(1, 31):
        box.send("dinkes", 8 * MBIT, 0, 60)
        box.send("bappeda", 4 * MBIT, 0, 60)
        for key, name, rate in (("dinkes", "video", 6), ("dinkes", "web", 2), ("bappeda", "e-government", 4)):
            kernel[key][name] = kernel[key].get(name, 0) + rate * MBIT * 60 // 8  # (a new element: from 0)
        if minute == 15:  # a reload empties the sets (sampled just before it, as pnsboxd does)
            store.record(t + minute * 60 - 1, box.readings(), opd_categories=kernel)
            box.reload()
            kernel = {"dinkes": {}, "bappeda": {}}
        store.record(t + minute * 60, box.readings(), opd_categories=kernel)
    found = month_report(store, "2026-11")
    dinkes, bappeda = found["opds"]["dinkes"], found["opds"]["bappeda"]
    assert dinkes["categories"][0][:2] == ["video", 30 * 6 * MBIT * 60 // 8]
    assert dinkes["categories"][1][:2] == ["web", 30 * 2 * MBIT * 60 // 8]
    assert abs(dinkes["categories"][0][2] - 0.75) < 0.01  # a share of all the OPD moved
    assert [c[0] for c in bappeda["categories"]] == ["e-government"]
    assert "categories: video 1.4 GB (75%), web 450.0 MB (25%)" in text.table(found)
    rows = list(text.csv_rows(found))
    assert rows[0][1] == "bappeda" and rows[0][-1] == f"e-government={30 * 4 * MBIT * 60 // 8}"
    out = tmp_path / "report.pdf"
    pdf.write(found, {key: hourly(store, "2026-11", key) for key in found["opds"]}, out, language="en",
              compress=False)
    assert b"Top application categories" in out.read_bytes() and b"e-government" in out.read_bytes()
