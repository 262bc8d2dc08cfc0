"""The WireGuard kernel layer against real tunnels: two namespaces joined by a veth (the
underlay), a hub interface and an edge interface (wireguard-go here, kernel WireGuard where the
kernel has it), configured through pnsbox.apply.wg and read back through pnsbox.observe.wg."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid

import pytest

from pnsbox.apply import wg
from pnsbox.apply.netns import made_in
from pnsbox.edge.keys import new_private_key, public_key
from pnsbox.lab.ping import ping
from pnsbox.observe import wg as observe_wg
from pnsbox.render.wg import WgInterface, WgPeer


def probed_backend() -> str | None:
    """The backend, probed in a scratch namespace (the probe adds a link: never in the host's)."""
    if os.geteuid() != 0:
        return None
    scratch = f"pnsbox-wgt-probe-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", scratch], check=True)
    try:
        return wg.backend(scratch)
    finally:
        subprocess.run(["ip", "netns", "del", scratch], check=False)


BACKEND = probed_backend()
pytestmark = pytest.mark.skipif(BACKEND is None, reason="needs root and WireGuard (kernel module or wireguard-go)")

HUB_UNDERLAY, EDGE_UNDERLAY = "192.0.2.1", "192.0.2.2"
HUB_TUNNEL, EDGE_TUNNEL, OPD_SUBNET, OPD_GATEWAY = "10.255.0.1", "10.255.0.2", "10.61.0.0/24", "10.61.0.1"


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


class Pair:
    """A hub and an edge namespace, each with a WireGuard interface named uniquely on this host."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.hub, self.edge = f"pnsbox-wgt-hub-{tag}", f"pnsbox-wgt-edge-{tag}"
        self.hub_if, self.edge_if = f"wgt-h-{tag}", f"wgt-e-{tag}"
        self.hub_key, self.edge_key = new_private_key(), new_private_key()
        for ns in (self.hub, self.edge):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "u0", "netns", self.hub, "type", "veth", "peer", "u0", "netns", self.edge)
        for ns, address in ((self.hub, HUB_UNDERLAY), (self.edge, EDGE_UNDERLAY)):
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "u0")
            sh("ip", "-n", ns, "link", "set", "u0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        wg.ensure(self.hub, self.hub_if)
        wg.ensure(self.edge, self.edge_if)
        sh("ip", "-n", self.hub, "addr", "add", f"{HUB_TUNNEL}/16", "dev", self.hub_if)
        sh("ip", "-n", self.edge, "addr", "add", f"{EDGE_TUNNEL}/16", "dev", self.edge_if)
        sh("ip", "-n", self.edge, "addr", "add", f"{OPD_GATEWAY}/24", "dev", "lo")  # stands for the OPD LAN
        for ns, name in ((self.hub, self.hub_if), (self.edge, self.edge_if)):
            sh("ip", "-n", ns, "link", "set", name, "up")
        sh("ip", "-n", self.hub, "route", "add", OPD_SUBNET, "dev", self.hub_if)

    def hub_wants(self, peers=None) -> WgInterface:
        default = (WgPeer(public_key(self.edge_key), (f"{EDGE_TUNNEL}/32", OPD_SUBNET), origin="opds.disdik"),)
        return WgInterface(self.hub_if, self.hub_key, 51820, default if peers is None else peers)

    def edge_wants(self) -> WgInterface:
        return WgInterface(self.edge_if, self.edge_key, None,
                           (WgPeer(public_key(self.hub_key), ("10.255.0.0/16", "10.0.0.0/8"),
                                   f"{HUB_UNDERLAY}:51820", 25),))

    def close(self):
        for ns, name in ((self.hub, self.hub_if), (self.edge, self.edge_if)):
            wg.remove(ns, name)
            subprocess.run(["ip", "netns", "del", ns], check=False)


@pytest.fixture
def pair():
    made = Pair()
    try:
        yield made
    finally:
        made.close()


def connected(pair: Pair) -> Pair:
    assert wg.sync(pair.hub, pair.hub_wants())
    assert wg.sync(pair.edge, pair.edge_wants())
    return pair


def test_the_edge_reaches_the_hub_through_the_tunnel_and_the_hub_sees_the_handshake(pair):
    connected(pair)
    assert ping(HUB_TUNNEL, timeout=5, netns=pair.edge)
    hub = observe_wg.read(pair.hub, pair.hub_if)
    peer = hub.peers[public_key(pair.edge_key)]
    assert hub.public_key == public_key(pair.hub_key) and hub.listen_port == 51820
    assert peer.endpoint.startswith(f"{EDGE_UNDERLAY}:")
    assert abs(peer.latest_handshake - time.time()) < 10
    assert peer.rx_bytes > 0 and peer.tx_bytes > 0
    assert set(peer.allowed_ips) == {f"{EDGE_TUNNEL}/32", OPD_SUBNET}


def test_a_second_sync_of_the_same_config_writes_nothing(pair):
    connected(pair)
    assert ping(HUB_TUNNEL, timeout=5, netns=pair.edge)  # the endpoint is learnt: still no difference
    assert not wg.sync(pair.hub, pair.hub_wants())
    assert not wg.sync(pair.edge, pair.edge_wants())
    assert wg.sync(pair.edge, pair.edge_wants().__class__(pair.edge_if, pair.edge_key, None, ()))


def test_the_opds_subnet_is_reached_through_its_peer(pair):
    connected(pair)
    assert ping(OPD_GATEWAY, timeout=5, netns=pair.hub)


def test_a_source_outside_the_peers_allowed_ips_is_dropped_by_the_hub(pair):
    connected(pair)
    sh("ip", "-n", pair.edge, "addr", "add", "10.99.0.5/32", "dev", "lo")  # not disdik's
    received = made_in(pair.hub, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    received.bind((HUB_TUNNEL, 9999))
    received.settimeout(0.3)
    senders = {}
    for source in (EDGE_TUNNEL, OPD_GATEWAY, "10.99.0.5"):
        senders[source] = made_in(pair.edge, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        senders[source].bind((source, 0))
    got = set()
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and got != {EDGE_TUNNEL, OPD_GATEWAY}:
        for source, sender in senders.items():
            sender.sendto(source.encode(), (HUB_TUNNEL, 9999))
        try:
            while True:
                data, (address, _) = received.recvfrom(100)
                assert data.decode() == address
                got.add(address)
        except TimeoutError:
            pass
    for sender in [*senders.values(), received]:
        sender.close()
    assert got == {EDGE_TUNNEL, OPD_GATEWAY}, got  # 10.99.0.5 went through the tunnel and was dropped


def test_removing_the_peer_cuts_the_tunnel_within_a_second(pair):
    connected(pair)
    assert ping(HUB_TUNNEL, timeout=5, netns=pair.edge)
    started = time.monotonic()
    assert wg.sync(pair.hub, pair.hub_wants(peers=()))
    took = time.monotonic() - started
    # Under emulation (make test-vm's TCG guest) every process runs many times slower: there the
    # bound is 3 s (1.30 s measured once); the second is the claim on a real machine.
    bound = 3.0 if os.environ.get("PNSBOX_VM_ACCEL") == "tcg" else 1.0
    assert took < bound, took
    assert not ping(HUB_TUNNEL, timeout=1.5, netns=pair.edge)
    assert observe_wg.read(pair.hub, pair.hub_if).peers == {}


def test_two_namespaces_run_an_interface_of_the_same_name_each_with_its_own_config(pair):
    connected(pair)
    other_key = new_private_key()
    assert wg.ensure(pair.edge, pair.hub_if)  # the hub's name, in the edge's namespace too
    assert wg.sync(pair.edge, WgInterface(pair.hub_if, other_key, 51999, ()))
    in_edge, in_hub = observe_wg.read(pair.edge, pair.hub_if), observe_wg.read(pair.hub, pair.hub_if)
    assert (in_edge.public_key, in_edge.listen_port, in_edge.peers) == (public_key(other_key), 51999, {})
    assert (in_hub.public_key, set(in_hub.peers)) == (public_key(pair.hub_key), {public_key(pair.edge_key)})
    wg.remove(pair.edge, pair.hub_if)
    assert observe_wg.read(pair.hub, pair.hub_if).public_key == public_key(pair.hub_key)  # the hub's is untouched


@pytest.mark.skipif(BACKEND != wg.USERSPACE, reason="only wireguard-go runs as a process")
def test_removing_an_interface_stops_its_wireguard_go_and_frees_the_name(pair):
    assert wg.userspace_pids(pair.edge, pair.edge_if)
    wg.remove(pair.edge, pair.edge_if)
    assert wg.userspace_pids(pair.edge, pair.edge_if) == []
    assert not os.path.exists(wg.socket_path(wg.userspace_handle(pair.edge, pair.edge_if)))
    assert wg.ensure(pair.edge, pair.edge_if)  # the name can be used again
