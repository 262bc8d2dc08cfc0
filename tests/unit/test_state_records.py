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


def test_an_owned_record_of_an_earlier_pnsbox_reads_typed(tmp_path):
    from pnsbox.apply.owned import OwnedRecord

    (tmp_path / "owned").mkdir()
    (tmp_path / "owned" / "hub.json").write_text(json.dumps({
        "addresses": [["opd-dinkes", "10.21.0.1/24"]], "links": ["pnsbox-dl"], "ruleset": "table inet pnsbox {}",
        "redirects": ["opd-dinkes"], "slots": {"dinkes": 0}, "labels": {"1:100": "dinkes"},
        "facts": {"kernel": "6.1.0", "leaf_qdiscs": ["pfifo"], "nft_queue": False}, "retired": 1}))
    owned = OwnedRecord(tmp_path, "hub").read()
    assert owned.addresses == (("opd-dinkes", "10.21.0.1/24"),) and owned.links == ("pnsbox-dl",)
    assert owned.redirects == ("opd-dinkes",) and owned.slots == {"dinkes": 0} and owned.labels["1:100"] == "dinkes"
    assert owned.structure is None and owned.trees == {} and owned.until is None
    assert owned.facts_on("6.1.0", ("leaf_qdiscs", "nft_queue")) == {"leaf_qdiscs": ["pfifo"], "nft_queue": False}
    assert owned.facts_on("6.1.0", ("leaf_qdiscs", "vlan")) is None  # probed before VLAN support was: again
    assert owned.facts_on("6.18.0", ("leaf_qdiscs",)) is None  # another kernel
    OwnedRecord(tmp_path, "hub").write(digest="abc")
    assert json.loads((tmp_path / "owned" / "hub.json").read_text())["retired"] == 1  # kept, not lost
    with pytest.raises(ValueError, match="no field"):
        OwnedRecord(tmp_path, "hub").write(digset="typo")


def test_the_owned_record_keeps_the_ruleset_text_beside_it_and_only_the_one_it_names(tmp_path):
    """The ruleset's text is not inside owned/NS.json (a rate change rewrites the record, and
    decoding 1.4 MB of it took a third of a 1,000-OPD rate change), but it reads back whole."""
    from pnsbox.apply.owned import OwnedRecord

    record = OwnedRecord(tmp_path, "hub")
    record.write(ruleset="table inet pnsbox { }\n", digest="aaa", slots={"dinkes": 0})
    assert "table inet" not in record.path.read_text()
    assert record.read().ruleset == "table inet pnsbox { }\n" and record.read().slots == {"dinkes": 0}
    first = sorted(p.name for p in record.path.parent.glob("hub.ruleset-*.nft"))
    record.write(trees={"pnsbox-dl": {}})  # a rate change: the text stays as it was
    assert record.read().ruleset == "table inet pnsbox { }\n"
    record.write(ruleset="table inet pnsbox { chain c { } }\n", digest="bbb")
    assert record.read().ruleset == "table inet pnsbox { chain c { } }\n" and record.read().digest == "bbb"
    now = sorted(p.name for p in record.path.parent.glob("hub.ruleset-*.nft"))
    assert len(now) == 1 and now != first  # the text no record names is gone
    OwnedRecord(tmp_path, "hub.b").write(ruleset="other\n")  # another namespace's text is its own
    record.write(ruleset=None)
    assert record.read().ruleset is None and OwnedRecord(tmp_path, "hub.b").read().ruleset == "other\n"
