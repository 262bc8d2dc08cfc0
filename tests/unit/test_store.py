"""History of versions and the hash-chained audit trail (files only, no kernel)."""

import json

import pytest

from pnsbox.store import AuditLog, History, diff, site_files

SITE = {"pnsbox.yaml": "site: {name: a}\n", "opds/x.yaml": "x: {}\n"}


def test_versions_chain_to_their_parent_and_keep_the_files(tmp_path):
    history = History(tmp_path)
    first = history.record(SITE, "ani", "first", "d1")
    second = history.record({**SITE, "pnsbox.yaml": "site: {name: b}\n"}, "budi", "rename", "d2")
    assert (first.id, first.parent, second.id, second.parent) == (1, None, 2, 1)
    assert [v.message for v in history.versions()] == ["first", "rename"]
    assert history.get(1).files == SITE
    assert "-site: {name: a}" in diff(first, second) and "+site: {name: b}" in diff(first, second)
    with pytest.raises(KeyError):
        history.get(7)


def test_a_version_lays_out_a_site_that_loads_again(tmp_path):
    version = History(tmp_path / "state").record(SITE, "ani", "first", None)
    site = version.write_site(tmp_path / "site")
    assert site_files(site) == SITE


def _log_with(tmp_path, n=4):
    log = AuditLog(tmp_path)
    for i in range(n):
        log.append("apply", "ani", "local", f"version {i + 1}")
    return log


def _rewrite(log, entries):
    log.path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def test_an_untouched_trail_verifies(tmp_path):
    assert _log_with(tmp_path).verify() == []


def test_entries_longer_than_a_read_from_the_end_still_chain(tmp_path):
    """An entry follows the last one, which is read from the end of the trail, not the whole trail."""
    log = _log_with(tmp_path, 2)
    log.append("apply", "ani", "local", "x" * 20_000)  # longer than the first read from the end
    log.append("apply", "ani", "local", "after the long one")
    assert log.verify() == [] and [e["seq"] for e in log.entries()] == [1, 2, 3, 4]


def test_an_edited_entry_is_caught(tmp_path):
    log = _log_with(tmp_path)
    entries = log.entries()
    entries[1]["detail"] = "nothing happened"
    _rewrite(log, entries)
    assert log.verify() == ["entry 2: its content was changed after it was written"]


def test_a_deleted_entry_is_caught(tmp_path):
    log = _log_with(tmp_path)
    entries = log.entries()
    _rewrite(log, entries[:1] + entries[2:])
    assert any("entry 3: expected entry 2" in p for p in log.verify())


def test_reordered_entries_are_caught(tmp_path):
    log = _log_with(tmp_path)
    entries = log.entries()
    _rewrite(log, [entries[0], entries[2], entries[1], entries[3]])
    assert any("deleted or reordered" in p for p in log.verify())


def test_a_cut_off_tail_is_caught(tmp_path):
    log = _log_with(tmp_path)
    _rewrite(log, log.entries()[:-1])
    assert log.verify() == ["the log's last entries are missing (it ends before the recorded head)"]


def test_a_rehashed_forgery_still_breaks_the_chain(tmp_path):
    """Editing an entry and recomputing its own hash breaks the link from the next entry."""
    log = _log_with(tmp_path)
    entries = log.entries()
    entries[1]["detail"] = "forged"
    entries[1]["hash"] = AuditLog._hash(entries[1])
    _rewrite(log, entries)
    assert log.verify() == ["entry 3: does not follow the entry before it (deleted or reordered)"]
