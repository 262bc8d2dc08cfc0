"""The edge book and hub key an HA standby takes from the active hub: sealed under the pair key,
written as the active holds them (file modes root's alone), compared by digest."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidTag

from pnsbox.daemon import edge_sync
from pnsbox.edge.book import BOOK, HUB_KEY


def test_a_sealed_book_opens_only_with_the_same_pair_key_and_never_shows_the_key():
    snap = {"book": '{"edges": {}, "tokens": []}', "key": "cHJpdmF0ZQ=="}
    sealed = edge_sync.seal(b"k" * 32, snap)
    assert "cHJpdmF0ZQ" not in str(sealed)
    assert edge_sync.unseal(b"k" * 32, sealed) == snap
    with pytest.raises(InvalidTag):
        edge_sync.unseal(b"x" * 32, sealed)


def test_an_adopted_book_and_key_are_the_peers_byte_for_byte_and_root_only(tmp_path):
    active, standby = tmp_path / "a", tmp_path / "b"
    active.mkdir()
    (active / BOOK).write_text('{"edges": {"dispar": {}}}')
    (active / HUB_KEY).write_text("a-key\n")
    standby.mkdir()
    (standby / HUB_KEY).write_text("its-own-key\n")
    assert edge_sync.digest(edge_sync.snapshot(active)) != edge_sync.digest(edge_sync.snapshot(standby))
    edge_sync.adopt(standby, edge_sync.snapshot(active))
    assert edge_sync.digest(edge_sync.snapshot(active)) == edge_sync.digest(edge_sync.snapshot(standby))
    assert (standby / HUB_KEY).read_text() == "a-key\n"
    assert {os.stat(standby / name).st_mode & 0o777 for name in (BOOK, HUB_KEY)} == {0o600}


def test_an_empty_book_does_not_wipe_the_standbys(tmp_path):
    (tmp_path / BOOK).write_text('{"edges": {"dispar": {}}}')
    edge_sync.adopt(tmp_path, {"book": "", "key": ""})
    assert (tmp_path / BOOK).read_text() == '{"edges": {"dispar": {}}}'
