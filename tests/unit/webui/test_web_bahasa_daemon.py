"""What pnsboxd says reaches an Indonesian reader in Bahasa Indonesia on the page: a failed
check on the dashboard, why a version was rolled back in the history, and the problems of a
refused edit in the REST API's 422 (with their codes beside the English, which stays)."""

import socket

from pnsbox.checks import run_checks
from pnsbox.daemon.rollbacks import RollbackRecord
from pnsbox.model import Checks
from pnsbox.wording import say


def _refused_port_failures() -> list:
    """A real failed check: a TCP connect to a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failures = run_checks(Checks(tcp=[f"127.0.0.1:{port}"], timeout=2), None)
    assert failures and failures[0].code == "check.tcp.error"
    return failures


def test_a_failed_check_on_the_dashboard_reads_in_the_readers_language(browser, daemon):
    daemon.check_failures = [say("check.reach", address="10.9.9.9"), *_refused_port_failures()]
    admin = browser("admin")
    admin.post("/language", {"lang": "id"})
    page = admin.get("/").get_data(as_text=True)
    assert "jangkau 10.9.9.9: tidak ada balasan ICMP echo" in page
    assert "no answer to ICMP echo" not in page
    admin.post("/language", {"lang": "en"})
    assert "reach 10.9.9.9: no answer to ICMP echo" in admin.get("/").get_data(as_text=True)


def test_the_history_says_why_each_version_was_rolled_back_in_the_readers_language(browser, daemon, tmp_path):
    admin = browser("admin")
    rollbacks = RollbackRecord(tmp_path)
    rollbacks.mark(1, say("rollback.why.checks_failed", failures=_refused_port_failures()), 1, automatic=True)
    rollbacks.mark(2, say("audit.why.not_confirmed", version=2), 1, automatic=True)
    rollbacks.mark(3, say("rollback.why.rolled_back_by", author="ani", message=say("audit.message.rollback_to",
                                                                                   version=1)), 4)
    daemon.versions.update({n: {**daemon.versions[1], "id": n, "message": f"v{n}"} for n in (2, 3)})
    daemon.rollbacks = rollbacks
    admin.post("/language", {"lang": "id"})
    page = admin.get("/history/").get_data(as_text=True)
    assert "pemeriksaannya gagal: tcp 127.0.0.1:" in page
    assert "versi 2 tidak dikonfirmasi tepat waktu" in page
    assert "dikembalikan oleh ani (kembali ke versi 1)" in page
    assert "was not confirmed in time" not in page and "rolled back (" not in page
    admin.post("/language", {"lang": "en"})
    english = admin.get("/history/").get_data(as_text=True)
    assert "version 2 was not confirmed in time" in english and "ani rolled back (rollback to version 1)" in english


def test_a_message_pnsboxd_wrote_reads_in_the_readers_language_and_a_persons_stays_as_written(
        browser, daemon, tmp_path):
    from pnsbox.store import History

    history = History(tmp_path)
    files = daemon.versions[1]["files"]
    history.record(files, "ani", "tambah dinkes", "x")  # a person's words: data, kept as written
    history.record(files, "ani", say("audit.message.rollback_to", version=1), "x")  # pnsboxd's own
    written = {v.id: v for v in history.versions()}
    assert written[1].said is None and written[2].said == {"code": "audit.message.rollback_to",
                                                           "args": {"version": 1}}
    assert "said" not in (tmp_path / "history" / "000001.json").read_text()  # files without a code as before
    daemon.versions = {n: {**v.__dict__, "message_said": v.said} for n, v in written.items()}
    admin = browser("admin")
    admin.post("/language", {"lang": "id"})
    page = admin.get("/history/").get_data(as_text=True)
    assert "kembali ke versi 1" in page and "tambah dinkes" in page and "rollback to version 1" not in page
    assert "kembali ke versi 1" in admin.get("/history/2").get_data(as_text=True)
    admin.post("/language", {"lang": "en"})
    assert "rollback to version 1" in admin.get("/history/").get_data(as_text=True)


def test_an_edit_the_author_makes_in_english_is_noted_in_english(app, browser):
    admin = browser("admin")
    admin.post("/language", {"lang": "en"})
    assert admin.post("/opds/dinkes/edit", {"name": "Dinas Kesehatan", "subnet": "10.21.0.0/24",
                                            "link_kind": "interface", "interface": "opd-dinkes",
                                            "guaranteed": "60mbit", "ceiling": "250mbit"}).status_code == 302
    assert app.extensions["pnsbox"].drafts.get("admin").notes == ["dinkes: bandwidth 60mbit/250mbit"]
