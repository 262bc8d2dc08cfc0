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


def test_the_edge_admits_new_connections_into_its_lan_only_as_the_hubs_policies_accept():
    inbound = [{"policy": "it-support", "from": ["10.30.0.0/24"], "ports": [], "protocols": []},
               {"policy": "backup", "from": ["10.0.10.10/32"], "ports": ["tcp/22", "tcp/8000-8010", "udp/514"],
                "protocols": ["icmp"]}]
    text = render_edge({**CONFIG, "inbound": inbound}, "wg-e", "K", "198.51.100.2:51820").ruleset.text
    rules = [line.strip() for line in text.splitlines() if "hub policy" in line]
    assert rules == [
        'iifname "wg-e" ip saddr { 10.30.0.0/24 } ip daddr @lan ct state new counter accept comment "hub policy it-support"',
        'iifname "wg-e" ip saddr { 10.0.10.10/32 } ip daddr @lan ct state new tcp dport { 22, 8000-8010 } counter accept '
        'comment "hub policy backup"',
        'iifname "wg-e" ip saddr { 10.0.10.10/32 } ip daddr @lan ct state new udp dport { 514 } counter accept '
        'comment "hub policy backup"',
        'iifname "wg-e" ip saddr { 10.0.10.10/32 } ip daddr @lan ct state new meta l4proto icmp counter accept '
        'comment "hub policy backup"']
    assert text.index("hub policy backup") < text.index("only what the LAN asked for or the hub allows")


def test_the_hub_tells_the_edge_which_of_its_policies_accept_into_the_opd():
    from pathlib import Path

    from pnsbox.edge.config import inbound
    from pnsbox.load import load_site, load_text
    from pnsbox.validate import build

    example = build(load_site(str(Path(__file__).resolve().parents[2] / "rules" / "examples" / "province")))
    assert inbound(example, "dispar") == [{"policy": "it-support", "from": ["10.30.0.0/24", "10.31.0.0/24"],
                                           "ports": [], "protocols": []}]  # diskominfo's subnets, every port
    site = build(load_text("""\
site:
  name: t
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {tunnel: 10.255.0.0/16}
services:
  backup: {addresses: [10.0.10.30], ports: [tcp/873], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  disdik: {name: D, subnet: 10.61.0.0/24, link: {wireguard: {}}}
  dinkes: {name: K, subnet: 10.21.0.0/24, link: {interface: opd-dinkes}}
policies:
  - {name: no-ssh, from: dinkes, to: disdik, ports: [tcp/22], action: drop}
  - {name: pull, from: backup, to: opds, ports: [tcp/873], action: accept}
  - {name: among-opds, from: opds, to: opds, protocols: [icmp], action: accept}
""", "site.yaml"))
    assert inbound(site, "disdik") == [
        {"policy": "pull", "from": ["10.0.10.30/32"], "ports": ["tcp/873"], "protocols": []},
        {"policy": "among-opds", "from": ["10.21.0.0/24"], "ports": [], "protocols": ["icmp"]}]  # not its own LAN
    assert inbound(site, "dinkes")[0]["policy"] == "pull"
