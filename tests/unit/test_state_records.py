"""The daemon's records under the state directory: one typed reader each, and what older
versions of pnsbox wrote still reads (a box upgraded in place keeps its history)."""

import json

import pytest

from pnsbox.state import Journal, Pending, StateError, StateFiles


def test_records_written_by_an_earlier_pnsbox_still_read(tmp_path):
    (tmp_path / "confirmed.json").write_text(json.dumps({"version": 4}))
    (tmp_path / "pending.json").write_text(json.dumps({"version": 5, "deadline": 1700000000.5, "rollback_to": 4}))
    (tmp_path / "applying.json").write_text(json.dumps({"previous": 5}))
    records = StateFiles(tmp_path)
    assert records.confirmed() == 4
    assert records.pending() == Pending(5, 1700000000.5, 4, None)  # no author before authors were kept
    assert records.journal() == Journal(5, 0.0, None, None)


def test_fields_a_later_pnsbox_adds_are_ignored_not_fatal(tmp_path):
    (tmp_path / "pending.json").write_text(json.dumps({"version": 2, "deadline": 9.0, "reason": "later field"}))
    assert StateFiles(tmp_path).pending() == Pending(2, 9.0)


def test_records_round_trip_and_a_first_applys_files_are_kept(tmp_path):
    records = StateFiles(tmp_path)
    records.set_confirmed(7)
    records.set_pending(Pending(8, 123.0, 7, "ani"))
    records.set_journal(Journal(None, 5.0, "ani", {"pnsbox.yaml": "site: {}\n"}))
    assert (records.confirmed(), records.pending(), records.journal()) == (
        7, Pending(8, 123.0, 7, "ani"), Journal(None, 5.0, "ani", {"pnsbox.yaml": "site: {}\n"}))
    records.set_journal(Journal(7, 6.0, "budi"))
    assert "files" not in json.loads((tmp_path / "applying.json").read_text())
    records.set_pending(None)
    records.set_journal(None)
    assert records.pending() is None and records.journal() is None
    assert not (tmp_path / "pending.json").exists()


def test_a_damaged_record_is_named_not_a_traceback(tmp_path):
    (tmp_path / "pending.json").write_text("{not json")
    with pytest.raises(StateError, match="pending.json: unreadable"):
        StateFiles(tmp_path).pending()
    (tmp_path / "pending.json").write_text(json.dumps({"deadline": 3}))
    with pytest.raises(StateError, match="Pending"):
        StateFiles(tmp_path).pending()
