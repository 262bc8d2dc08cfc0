"""explain's answer on the page: Bahasa Indonesia in Indonesian mode, rows numbered as the table is."""

from datetime import UTC, datetime
from pathlib import Path

from pnsbox.explain import explain
from pnsbox.load import load_site
from pnsbox.validate import build
from webui.explain_text import in_language

EXAMPLE = Path(__file__).resolve().parents[3] / "rules" / "examples" / "province"
MONDAY_NOON_WIB = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _answer(source, target, port):
    return explain(build(load_site(EXAMPLE)), source, target, port, MONDAY_NOON_WIB).text()


def test_every_line_of_an_answer_reads_in_indonesian_with_table_rows():
    said = in_language(_answer("dinkes", "internet", "tcp/25"), "id")
    assert said.splitlines() == [
        "tolak oleh kebijakan no-outbound-smtp (baris 5)",
        "  - untuk aliran yang dinamai pengklasifikasi kategori video: baris 6 no-video menentukan lebih dulu (tolak)",
        "  - baris 5 no-outbound-smtp: dari opds ke internet; tcp/25 termasuk port-nya (tcp/25)",
        "  dibentuk oleh: dinkes/default (unggah): dijamin 50mbit, batas atas 200mbit"]


def test_a_denied_flow_and_a_schedule_read_in_indonesian():
    said = in_language(_answer("dinkes", "bappeda", "tcp/445"), "id")
    assert said.startswith("terima oleh kebijakan dinkes-files (baris 8)")
    assert "hanya selama jadwal office-hours buka (zona Asia/Jakarta)" in said
    denied = in_language(_answer("bappeda", "dinkes", "tcp/445"), "id")
    assert denied.startswith("buang: tidak ada kebijakan yang cocok; bawaan antar zona adalah tolak")
    assert "policies[" not in denied and " but not " not in denied


def test_english_keeps_the_words_and_numbers_rows_as_the_table():
    said = in_language(_answer("dinkes", "internet", "tcp/25"), "en")
    assert said.startswith("reject by policy no-outbound-smtp (row 5)") and "policies[" not in said
