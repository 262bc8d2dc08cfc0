"""WireGuard interfaces as data, and the text `wg syncconf` reads (pure: no I/O).

The hub has one interface with a peer per enrolled edge: cryptokey routing lets a peer send
only from its allowed IPs (its OPD's subnets and its tunnel address), so the source address
names the OPD as surely as an interface would, and one UDP port serves a thousand edges.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class WgPeer:
    public_key: str
    allowed_ips: tuple[str, ...]  # CIDRs, in the order given
    endpoint: str | None = None  # ADDRESS:PORT; None: learnt from the peer's packets
    keepalive: int | None = None  # seconds
    origin: str = ""  # the config item (opds.NAME) it comes from, for messages

    def normalized(self) -> tuple:
        """What the kernel keeps: allowed IPs as a set, no origin."""
        return (self.public_key, frozenset(self.allowed_ips), self.endpoint, self.keepalive or None)


@dataclass(frozen=True)
class WgInterface:
    name: str
    private_key: str
    listen_port: int | None  # None: any free port (an edge dials out)
    peers: tuple[WgPeer, ...]


def syncconf_text(interface: WgInterface) -> str:
    """The interface in wg(8)'s configuration format (private key included: pass it on a pipe)."""
    lines = ["[Interface]", f"PrivateKey = {interface.private_key}"]
    if interface.listen_port is not None:
        lines.append(f"ListenPort = {interface.listen_port}")
    for peer in interface.peers:
        lines += ["", "[Peer]", f"PublicKey = {peer.public_key}"]
        if peer.allowed_ips:
            lines.append(f"AllowedIPs = {', '.join(peer.allowed_ips)}")
        if peer.endpoint:
            lines.append(f"Endpoint = {peer.endpoint}")
        if peer.keepalive:
            lines.append(f"PersistentKeepalive = {peer.keepalive}")
    return "\n".join(lines) + "\n"


def uapi_set_text(interface: WgInterface) -> str:
    """The same, as one `set` for wireguard-go's control socket (keys in hex; replaces all peers)."""
    from ..edge.keys import hex_key

    lines = ["set=1", f"private_key={hex_key(interface.private_key)}"]
    if interface.listen_port is not None:
        lines.append(f"listen_port={interface.listen_port}")
    lines.append("replace_peers=true")
    for peer in interface.peers:
        lines += [f"public_key={hex_key(peer.public_key)}", "replace_allowed_ips=true"]
        if peer.endpoint:
            lines.append(f"endpoint={peer.endpoint}")
        lines.append(f"persistent_keepalive_interval={peer.keepalive or 0}")
        lines += [f"allowed_ip={ip}" for ip in peer.allowed_ips]
    return "\n".join(lines) + "\n\n"


def hub_interface(config, edges: dict, private_key: str) -> WgInterface | None:
    """The hub's interface: a peer per enrolled, enabled edge of an OPD the config tunnels,
    allowed to send from its OPD's subnets and its tunnel address only. `edges` maps OPD ->
    an enrolled edge (pnsbox.edge.book.Edge); None when the site has no WireGuard."""
    hub = config.site.wireguard
    if hub is None:
        return None
    peers = []
    for name, opd in config.opds.items():
        edge = edges.get(name)
        if not opd.link.is_wireguard or edge is None or edge.disabled:
            continue
        tunnel_ip = edge.tunnel_address.split("/")[0]
        link = opd.link.wireguard
        peers.append(WgPeer(edge.public_key, (f"{tunnel_ip}/32", *(str(s) for s in opd.subnet)),
                            str(link.endpoint) if link.endpoint else None, link.keepalive, f"opds.{name}"))
        if getattr(edge, "previous_key", None):
            # During a rotation the old key stays a peer (it may still finish a handshake) but
            # carries nothing: its allowed IPs moved to the new key, which the edge switches to
            # as soon as the hub has accepted it.
            peers.append(WgPeer(edge.previous_key, (), None, None, f"opds.{name} (previous key)"))
        if getattr(edge, "next_key", None):
            # A new key registered through the tunnel: a peer the edge can shake hands with, carrying
            # nothing until the hub sees it do so (the current key carries the edge's traffic till then).
            peers.append(WgPeer(edge.next_key, (), None, None, f"opds.{name} (next key)"))
    return WgInterface(hub.interface, private_key, hub.listen_port, tuple(peers))
