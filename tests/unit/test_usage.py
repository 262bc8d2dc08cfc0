from datetime import UTC, datetime

from pnsbox.observe.usage import Book, accumulate, month_of, report


def reading(tx, rx):
    return {"tx_bytes": tx, "tx_packets": tx // 100, "rx_bytes": rx, "rx_packets": rx // 100}


def test_months_turn_at_the_sites_midnight():
    last_evening = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)  # 00:30 on 1 December in Jakarta
    assert month_of(last_evening, "Asia/Jakarta") == "2026-12"
    assert month_of(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), "Asia/Jakarta") == "2026-11"


def test_what_moved_is_added_and_a_reset_counter_counts_whole():
    book = accumulate(Book(), {"dinkes": reading(1000, 5000)}, "2026-11")
    book = accumulate(book, {"dinkes": reading(1500, 9000)}, "2026-11")
    assert report(book, "2026-11")["dinkes"]["tx_bytes"] == 1500
    book = accumulate(book, {"dinkes": reading(200, 300)}, "2026-11")  # the ruleset was reloaded
    assert report(book, "2026-11")["dinkes"] == {"tx_bytes": 1700, "tx_packets": 17, "rx_bytes": 9300,
                                                 "rx_packets": 93}
    book = accumulate(book, {"dinkes": reading(700, 300), "bappeda": reading(50, 60)}, "2026-12")
    assert report(book, "2026-12") == {"bappeda": reading(50, 60), "dinkes": reading(500, 0)}
    assert report(book, "2026-12", visible={"dinkes"}) == {"dinkes": reading(500, 0)}
    assert report(book, "2027-01") == {}
