"""What a WireGuard interface runs: its peers, their endpoints, handshakes and bytes."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..apply.netns import run
from ..render.wg import WgPeer


@dataclass(frozen=True)
class PeerState:
    public_key: str
    endpoint: str | None  # where its packets last came from (or the endpoint configured)
    allowed_ips: tuple[str, ...]
    latest_handshake: int  # Unix time; 0: never
    rx_bytes: int
    tx_bytes: int
    keepalive: int | None

    def as_peer(self) -> WgPeer:
        return WgPeer(self.public_key, self.allowed_ips, self.endpoint, self.keepalive)


@dataclass(frozen=True)
class InterfaceState:
    name: str
    private_key: str | None
    public_key: str | None
    listen_port: int
    peers: dict[str, PeerState]  # public key -> state


def _none(value: str) -> str | None:
    return None if value in ("(none)", "off", "") else value


def parse_dump(name: str, text: str) -> InterfaceState:
    """`wg show NAME dump`: the interface's line, then one tab-separated line per peer."""
    lines = [line.split("\t") for line in text.splitlines() if line]
    private, public, port = lines[0][0], lines[0][1], lines[0][2]
    peers = {}
    for fields in lines[1:]:
        key, _psk, endpoint, allowed, handshake, rx, tx, keepalive = fields[:8]
        allowed_ips = tuple(sorted(ip for ip in (_none(allowed) or "").split(",") if ip))
        keep = _none(keepalive)
        peers[key] = PeerState(key, _none(endpoint), allowed_ips, int(handshake), int(rx), int(tx),
                               int(keep) if keep else None)
    return InterfaceState(name, _none(private), _none(public), int(port), peers)


SOCKET_DIR = "/var/run/wireguard"


def socket_path(name: str) -> str:
    return os.path.join(SOCKET_DIR, f"{name}.sock")


def userspace_handle(netns: str | None, name: str) -> str:
    """The name a wireguard-go interface NAME of NETNS is started under, and so its control socket's.

    Those sockets sit in one host-wide directory named by interface alone, so two namespaces
    could not both run `pnsbox-wg`. wireguard-go is started under a name unique to the
    namespace (from its inode, unique while it lives) and its link renamed to NAME; `wg`
    keeps reaching it by the name it was started under."""
    inode = os.stat(f"/run/netns/{netns}" if netns else "/proc/self/ns/net").st_ino
    return "wg" + hashlib.sha1(f"{inode}/{name}".encode()).hexdigest()[:12]


def control_name(netns: str | None, name: str) -> str:
    """The name `wg` knows the interface NAME of NETNS by: its own for the kernel's WireGuard (and
    a wireguard-go started under NAME), the namespace's handle for wireguard-go."""
    handle = userspace_handle(netns, name)
    return handle if os.path.exists(socket_path(handle)) else name


def read(netns: str | None, name: str) -> InterfaceState | None:
    """The interface NAME in NETNS as the kernel (or wireguard-go) runs it; None if it is not there.

    The link must exist in NETNS first: wireguard-go's control socket is named by interface
    alone, so `wg` in one namespace would otherwise happily read another namespace's device."""
    if run(["ip", "link", "show", "dev", name], netns, check=False).returncode != 0:
        return None
    shown = run(["wg", "show", control_name(netns, name), "dump"], netns, check=False)
    if shown.returncode != 0:
        return None
    return parse_dump(name, shown.stdout)


def endpoints(netns: str | None, name: str) -> dict[str, str]:
    """Each peer's endpoint as the interface last heard it (public key -> ADDRESS:PORT)."""
    state = read(netns, name)
    return {key: peer.endpoint for key, peer in (state.peers.items() if state else ()) if peer.endpoint}
