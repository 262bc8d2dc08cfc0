"""WireGuard links: tunnelled OPDs share the hub's interface; bad tunnel settings are refused
with FILE:LINE: path: message, all at once."""

import pytest

from pnsbox.load import load_text
from pnsbox.problems import ConfigError
from pnsbox.validate import build

GOOD = """\
site:
  name: test
  uplink: {interface: wan0, address: 198.51.100.2/24, gateway: 198.51.100.1, bandwidth: 1gbit}
  wireguard: {listen_port: 51820, tunnel: 10.255.0.0/16}
  edges_url: https://hub.example.go.id/
services:
  simpeg: {addresses: [10.0.10.10], ports: [tcp/443], link: {interface: dc0, address: 10.0.10.1/24}}
opds:
  dinkes:
    name: Dinas Kesehatan
    subnet: 10.21.0.0/24
    link: {interface: opd-dinkes}
  disdik:
    name: Dinas Pendidikan
    subnet: 10.61.0.0/24
    link: {wireguard: {}}
  dispar:
    name: Dinas Pariwisata
    subnet: 10.62.0.0/24
    link: {wireguard: {keepalive: 25, mtu: 1380, endpoint: 198.51.100.7:51820, address: 10.255.0.9}}
policies:
  - {name: simpeg, from: opds, to: simpeg, action: accept}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(load_text(text, "site.yaml"))
    return [str(p) for p in caught.value.problems]


def test_tunnelled_opds_share_the_hubs_interface():
    config = build(load_text(GOOD))
    assert config.opds["disdik"].link.device == config.opds["dispar"].link.device == "pnsbox-wg"
    assert config.opds["dinkes"].link.device == "opd-dinkes"
    hub = config.site.wireguard
    assert (str(hub.hub_address), hub.listen_port, hub.mtu) == ("10.255.0.1/16", 51820, 1440)
    link = config.opds["dispar"].link.wireguard
    assert (link.keepalive, link.mtu, str(link.endpoint), str(link.address)) == (
        25, 1380, "198.51.100.7:51820", "10.255.0.9")
    assert config.site.edges_url == "https://hub.example.go.id/"


def test_a_named_hub_interface_is_every_tunnelled_opds_device():
    config = build(load_text(GOOD.replace("tunnel: 10.255.0.0/16}", "tunnel: 10.255.0.0/16, interface: wg-hub}")))
    assert {opd.link.device for name, opd in config.opds.items() if name != "dinkes"} == {"wg-hub"}


@pytest.mark.parametrize("old, new, expected", [
    ("tunnel: 10.255.0.0/16", "tunnel: 10.61.0.0/16",
     "site.yaml:4: site.wireguard.tunnel: 10.61.0.0/16 overlaps 10.61.0.0/24 of opds.disdik.subnet[0]"),
    ("tunnel: 10.255.0.0/16", "tunnel: 10.0.0.0/8",
     "site.yaml:7: services.simpeg.addresses[0]: 10.0.10.10/32 overlaps 10.0.0.0/8 of site.wireguard.tunnel"),
    ("address: 10.255.0.9", "address: 10.255.0.1",
     "site.yaml:20: opds.dispar.link.wireguard.address: tunnel address 10.255.0.1 is the hub's own tunnel address"),
    ("address: 10.255.0.9", "address: 10.254.0.9",
     "site.yaml:20: opds.dispar.link.wireguard.address: 10.254.0.9 is not a host address of the tunnel range"),
    ("link: {wireguard: {}}", "link: {wireguard: {address: 10.255.0.9}}",
     "site.yaml:20: opds.dispar.link.wireguard.address: tunnel address 10.255.0.9 is taken by "
     "opds.disdik.link.wireguard.address"),
    ("mtu: 1380", "mtu: 1460",
     "site.yaml:20: opds.dispar.link.wireguard.mtu: an MTU of 1460 cannot be carried: WireGuard adds 60 bytes, "
     "and 1520 is more than site.wireguard.underlay_mtu 1500; at most 1440"),
    ("mtu: 1380", "mtu: 500", "site.yaml:20: opds.dispar.link.wireguard.mtu: a tunnel MTU (bytes) is 576 to 9000, not 500"),
    ("endpoint: 198.51.100.7:51820", "endpoint: hub:51820",
     "site.yaml:20: opds.dispar.link.wireguard.endpoint: 'hub:51820' is not an address and UDP port"),
    ("keepalive: 25", "keepalive: 0", "site.yaml:20: opds.dispar.link.wireguard.keepalive:"),
    ("link: {wireguard: {}}", "link: {wireguard: {}, interface: wg1}",
     "site.yaml:16: opds.disdik.link.interface: a WireGuard link's device is site.wireguard.interface"),
    ("link: {wireguard: {}}", "link: {wireguard: {}, vlan: 5, trunk: lan0}",
     "site.yaml:16: opds.disdik.link: a WireGuard link has no `vlan`, `trunk` or `address`"),
    ("link: {interface: opd-dinkes}", "link: {interface: pnsbox-wg}",
     "site.yaml:12: opds.dinkes.link: interface pnsbox-wg is already claimed by site.wireguard.interface"),
    ("edges_url: https://hub.example.go.id/", "edges_url: http://hub.example.go.id/",
     "site.yaml:5: site.edges_url: 'http://hub.example.go.id/' is not an https:// address"),
    ("tunnel: 10.255.0.0/16}", "tunnel: 10.255.0.0/31}",
     "site.yaml:4: site.wireguard.tunnel: 10.255.0.0/31 is too small"),
])
def test_each_tunnel_problem_names_file_line_and_path(old, new, expected):
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new, 1))
    assert any(p.startswith(expected) for p in found), found


def test_a_wireguard_link_without_the_hubs_side_is_refused():
    text = GOOD.replace("  wireguard: {listen_port: 51820, tunnel: 10.255.0.0/16}\n", "")
    found = problems_of(text)
    assert "site.yaml:15: opds.disdik.link.wireguard: a WireGuard link needs site.wireguard " \
           "(the hub's listen_port and tunnel)" in found
    assert len([p for p in found if "needs site.wireguard" in p]) == 2


def test_a_service_cannot_sit_on_a_tunnel():
    text = GOOD.replace("link: {interface: dc0, address: 10.0.10.1/24}", "link: {wireguard: {}}")
    assert any("services.simpeg.link: services sit on an interface" in p for p in problems_of(text))


def test_the_hub_renders_one_interface_its_routes_peers_firewall_and_mss_clamp():
    from pnsbox.edge.book import Edge
    from pnsbox.facts import Facts
    from pnsbox.render.site import site

    edge = Edge("disdik", "K" * 43 + "=", "10.255.0.2/16", 0.0, 0.0, 1)
    off = Edge("dispar", "L" * 43 + "=", "10.255.0.9/16", 0.0, 0.0, 2, disabled=True)
    art = site(build(load_text(GOOD)), Facts(("pfifo",)), edges={"disdik": edge, "dispar": off})
    assert "link pnsbox-wg" in art.links and "address 10.255.0.1/16 dev pnsbox-wg" in art.links
    assert "route 10.61.0.0/24 dev pnsbox-wg" in art.links and "route 10.62.0.0/24 dev pnsbox-wg" in art.links
    assert "10.61.0.1" not in art.links  # the box takes no address in a tunnelled OPD's subnet
    (peer,) = art.wireguard.peers  # the disabled edge has no peer
    assert (peer.public_key, peer.allowed_ips, art.wireguard.private_key) == (edge.public_key,
                                                                              ("10.255.0.2/32", "10.61.0.0/24"), "")
    assert '"pnsbox-wg" . 10.61.0.0/24 : goto from_disdik' in art.nft
    assert 'udp dport 51820 counter accept comment "WireGuard from the edges"' in art.nft
    assert 'tcp dport 443 counter accept comment "edges enrol and fetch their config"' in art.nft
    assert 'oifname "pnsbox-wg" tcp flags syn tcp option maxseg size set rt mtu' in art.nft


def test_a_site_without_tunnels_renders_no_wireguard():
    from pnsbox.facts import Facts
    from pnsbox.render.site import site

    wired = GOOD.split("  disdik:")[0] + "policies: []\n"
    art = site(build(load_text(wired)), Facts(("pfifo",)))
    assert art.wireguard is None and "pnsbox-wg" not in art.links and "WireGuard" not in art.nft
