"""Enrollment on the hub: one-time tokens stored hashed, single use, expiring; a refused
enrollment records nothing; tunnel addresses are stable."""

import os
import stat

import pytest

from pnsbox.edge.book import EdgeBook, EnrollRefused, parse_lifetime
from pnsbox.edge.keys import new_private_key, public_key
from pnsbox.load import load_text
from pnsbox.validate import build

SITE = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16}
opds:
  dinkes: {name: Dinkes, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
  disdik: {name: Disdik, subnet: 10.61.0.0/24, link: {wireguard: {}}}
  dispar: {name: Dispar, subnet: 10.62.0.0/24, link: {wireguard: {address: 10.255.0.2}}}
  dishub: {name: Dishub, subnet: 10.63.0.0/24, link: {wireguard: {}}}
"""
NOW = 1_800_000_000.0


@pytest.fixture
def config():
    return build(load_text(SITE))


@pytest.fixture
def book(tmp_path):
    return EdgeBook(tmp_path)


def edge_key() -> str:
    return public_key(new_private_key())


def test_a_token_enrols_its_opds_edge_once(book, config):
    text, token = book.add_token(config, "disdik", 3600, "admin", now=NOW)
    key = edge_key()
    edge, credential = book.enroll(config, text, key, now=NOW + 60)
    assert book.edge_of(credential) == edge and book.edge_of(credential + "x") is None and book.edge_of("") is None
    assert credential not in (book.path).read_text()
    assert (edge.opd, edge.public_key, edge.tunnel_address, edge.token) == ("disdik", key, "10.255.0.3/16", token.id)
    with pytest.raises(EnrollRefused, match="already used at"):
        book.enroll(config, text, edge_key(), now=NOW + 61)
    assert book.read().edges["disdik"].public_key == key
    assert book.read().tokens[0].state(NOW + 61) == "used"


def test_tokens_are_stored_only_as_their_hash_and_the_file_is_root_only(book, config, tmp_path):
    text, _ = book.add_token(config, "disdik", now=NOW)
    stored = (tmp_path / "edges.json").read_text()
    assert text not in stored and text[len("pnsbox-"):] not in stored
    assert stat.S_IMODE(os.stat(tmp_path / "edges.json").st_mode) == 0o600


@pytest.mark.parametrize("case, message", [
    ("wrong", r"not valid \(mistyped, or not issued by this hub\)"),
    ("expired", "expired at"),
    ("used", "already used"),
    ("bad key", "public key is not a WireGuard key"),
    ("empty", "no enrollment token given"),
])
def test_a_refused_enrollment_records_nothing(book, config, tmp_path, case, message):
    text, _ = book.add_token(config, "disdik", 3600, now=NOW)
    if case == "used":
        book.enroll(config, text, edge_key(), now=NOW)
    before = (tmp_path / "edges.json").read_bytes()
    token, key, when = text, edge_key(), NOW + 10
    if case == "wrong":
        token = text[:-2] + ("AA" if not text.endswith("AA") else "BB")
    elif case == "expired":
        when = NOW + 3600
    elif case == "bad key":
        key = "not-a-key"
    elif case == "empty":
        token = ""
    with pytest.raises(EnrollRefused, match=message):
        book.enroll(config, token, key, now=when)
    assert (tmp_path / "edges.json").read_bytes() == before


def test_a_bad_key_does_not_use_up_the_token(book, config):
    text, _ = book.add_token(config, "disdik", now=NOW)
    with pytest.raises(EnrollRefused):
        book.enroll(config, text, "x" * 44, now=NOW)
    assert book.enroll(config, text, edge_key(), now=NOW)[0].opd == "disdik"


def test_tokens_only_for_opds_with_a_wireguard_link(book, config):
    with pytest.raises(LookupError, match="OPD dinkes has no WireGuard link"):
        book.add_token(config, "dinkes")
    with pytest.raises(LookupError, match="no OPD named nope"):
        book.add_token(config, "nope")
    assert not (book.path).exists()


def test_one_key_cannot_be_the_edge_of_two_opds(book, config):
    key = edge_key()
    book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], key, now=NOW)[0]
    with pytest.raises(EnrollRefused, match="already the edge of OPD disdik"):
        book.enroll(config, book.add_token(config, "dishub", now=NOW)[0], key, now=NOW)[0]


def test_tunnel_addresses_come_from_the_config_or_the_lowest_free_and_stay(book, config):
    first = book.enroll(config, book.add_token(config, "dishub", now=NOW)[0], edge_key(), now=NOW)[0]
    given = book.enroll(config, book.add_token(config, "dispar", now=NOW)[0], edge_key(), now=NOW)[0]
    second = book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], edge_key(), now=NOW)[0]
    assert (first.tunnel_address, given.tunnel_address, second.tunnel_address) == (
        "10.255.0.3/16", "10.255.0.2/16", "10.255.0.4/16")
    again = book.enroll(config, book.add_token(config, "dishub", now=NOW + 5)[0], edge_key(), now=NOW + 5)[0]
    assert again.tunnel_address == first.tunnel_address  # a new key, the same address
    assert (again.enrolled, again.key_since) == (NOW, NOW + 5)


def test_disabling_an_edge_keeps_its_record(book, config):
    book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], edge_key(), now=NOW)[0]
    assert book.set_disabled("disdik", True).disabled
    assert book.read().edges["disdik"].disabled
    with pytest.raises(LookupError):
        book.set_disabled("dishub", True)


def test_the_hubs_key_is_made_once_and_kept_root_only(book, tmp_path):
    key = book.hub_private_key()
    assert book.hub_private_key() == key and book.hub_public_key() == public_key(key)
    assert stat.S_IMODE(os.stat(tmp_path / "wireguard-hub.key").st_mode) == 0o600


@pytest.mark.parametrize("text, seconds", [("24h", 86400), ("30m", 1800), ("7d", 604800), ("90s", 90)])
def test_token_lifetimes(text, seconds):
    assert parse_lifetime(text) == seconds


@pytest.mark.parametrize("text", ["24", "h", "0h", "-1h", "31d", "1w"])
def test_bad_token_lifetimes(text):
    with pytest.raises(ValueError):
        parse_lifetime(text)


def test_a_rotation_keeps_the_old_key_until_the_hub_sees_the_new_one_then_until_the_edge_runs_it(book, config):
    old = edge_key()
    _, credential = book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], old, now=NOW)
    new = edge_key()
    registered = book.rotate(credential, new, now=NOW + 100)
    assert (registered.public_key, registered.next_key, registered.key_since) == (old, new, NOW)  # old carries on
    assert book.promote("disdik", edge_key()) is None  # not its next key: nothing changes
    promoted = book.promote("disdik", new, now=NOW + 101)
    assert (promoted.public_key, promoted.previous_key, promoted.next_key, promoted.key_since) == (new, old, None,
                                                                                                  NOW + 101)
    assert not book.confirm_key("disdik", old)  # still the old key running: nothing to forget
    assert book.confirm_key("disdik", new)
    assert book.read().edges["disdik"].previous_key is None


def test_a_config_fetch_with_the_new_key_ends_a_rotation_the_hub_has_not_seen_yet(book, config):
    old, new = edge_key(), edge_key()
    _, credential = book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], old, now=NOW)
    book.rotate(credential, new)
    assert book.confirm_key("disdik", new)
    edge = book.read().edges["disdik"]
    assert (edge.public_key, edge.previous_key, edge.next_key) == (new, None, None)


@pytest.mark.parametrize("case, message", [("credential", "not an enrolled edge"), ("key", "not a WireGuard key"),
                                           ("reused", "already known")])
def test_a_bad_rotation_is_refused_and_changes_nothing(book, config, tmp_path, case, message):
    key = edge_key()
    _, credential = book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], key, now=NOW)
    before = (tmp_path / "edges.json").read_bytes()
    with pytest.raises(EnrollRefused, match=message):
        book.rotate(credential + "x" if case == "credential" else credential,
                    "nope" if case == "key" else (key if case == "reused" else edge_key()))
    assert (tmp_path / "edges.json").read_bytes() == before


def test_during_a_rotation_the_key_not_in_use_is_a_peer_that_carries_nothing(book, config):
    from pnsbox.render.wg import hub_interface

    old, new = edge_key(), edge_key()
    _, credential = book.enroll(config, book.add_token(config, "disdik", now=NOW)[0], old, now=NOW)
    book.rotate(credential, new)
    peers = {p.public_key: p.allowed_ips for p in hub_interface(config, book.read().edges, "K").peers}
    assert peers == {old: ("10.255.0.3/32", "10.61.0.0/24"), new: ()}  # registered: the old key still carries
    book.promote("disdik", new)
    peers = {p.public_key: p.allowed_ips for p in hub_interface(config, book.read().edges, "K").peers}
    assert peers == {new: ("10.255.0.3/32", "10.61.0.0/24"), old: ()}  # seen: the new one carries
