"""The edge's side rendered from the hub's config: its one peer, its routes, its own table."""

from pnsbox.edge.render import render_edge

CONFIG = {"opd": "disdik", "interface": {"address": "10.255.0.2/16", "mtu": 1380},
          "hub": {"public_key": "HUBKEY", "port": 51820, "tunnel_address": "10.255.0.1", "keepalive": 25},
          "lan": ["10.61.0.0/24"], "routes": ["10.0.10.10/32", "10.21.0.0/24", "10.255.0.0/16"],
          "version": 3, "digest": "x"}


def test_the_hub_is_the_edges_one_peer_for_the_intranet():
    want = render_edge(CONFIG, "wg-e", "PRIVATE", "198.51.100.2:51820")
    (peer,) = want.interface.peers
    assert (peer.public_key, peer.allowed_ips, peer.endpoint, peer.keepalive) == (
        "HUBKEY", ("10.0.10.10/32", "10.21.0.0/24", "10.255.0.0/16"), "198.51.100.2:51820", 25)
    assert (want.interface.listen_port, want.address, want.mtu, want.routes) == (
        None, "10.255.0.2/16", 1380, ("10.0.10.10/32", "10.21.0.0/24", "10.255.0.0/16"))


def test_the_edges_table_admits_only_replies_and_the_hubs_echo_and_clamps_mss():
    text = render_edge(CONFIG, "wg-e", "PRIVATE", "198.51.100.2:51820").ruleset.text
    assert "elements = { 10.61.0.0/24 }" in text
    assert 'iifname "wg-e" ct state established,related counter accept' in text
    assert 'iifname "wg-e" ip saddr 10.255.0.1 icmp type echo-request accept' in text
    assert 'oifname "wg-e" ip saddr != @lan counter drop' in text
    assert text.count("tcp option maxseg size set rt mtu") == 2


def test_the_tables_digest_follows_its_content():
    one = render_edge(CONFIG, "wg-e", "K", "198.51.100.2:51820").ruleset
    same = render_edge(CONFIG, "wg-e", "K2", "198.51.100.3:51820").ruleset
    other = render_edge({**CONFIG, "lan": ["10.62.0.0/24"]}, "wg-e", "K", "198.51.100.2:51820").ruleset
    assert one.digest == same.digest != other.digest
    assert f'comment "pnsbox-edge {one.digest}"' in one.text
