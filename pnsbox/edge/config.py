"""What the hub tells an edge (pure): its tunnel, its peer (the hub), its LAN and the intranet
it reaches through the tunnel. The edge applies this and nothing else; its digest says when it
changed."""

from __future__ import annotations

import hashlib
import json
from ipaddress import IPv4Network

from ..model import Config
from .book import Edge


def edge_config(config: Config, edge: Edge, hub_public_key: str, version: int | None) -> dict:
    hub = config.site.wireguard
    opd = config.opds[edge.opd]
    link = opd.link.wireguard
    own = {str(s) for s in opd.subnet}
    intranet = {str(hub.tunnel)}
    intranet |= {str(s) for name, other in config.opds.items() if name != edge.opd for s in other.subnet}
    intranet |= {f"{a}/32" for service in config.services.values() for a in service.addresses}
    body = {
        "opd": edge.opd,
        "name": opd.name,
        "interface": {"address": edge.tunnel_address, "mtu": link.mtu or hub.mtu},
        "hub": {"public_key": hub_public_key, "port": hub.listen_port, "tunnel_address": str(hub.hub_address.ip),
                "keepalive": link.keepalive},
        "lan": sorted(own, key=_net_order),
        # The OPD's upload is shaped where its queue builds: on the edge, into the tunnel.
        "upload": ({"rate": opd.bandwidth.rates("upload").guaranteed, "ceil": opd.bandwidth.rates("upload").ceiling}
                   if opd.bandwidth else None),
        # Without a local breakout the OPD's internet goes through the hub too, where its
        # policies, plans and counters apply. Two halves, so the edge's own default stays.
        "routes": sorted(intranet - own, key=_net_order) + ([] if link.breakout else list(EVERYWHERE)),
        "breakout": link.breakout,
        "inbound": inbound(config, edge.opd),
    }
    return {**body, "version": version, "digest": digest(body)}


EVERYWHERE = ("0.0.0.0/1", "128.0.0.0/1")


def inbound(config: Config, opd: str) -> list[dict]:
    """What the hub's policies accept into OPD's LAN from elsewhere (the IT office reaching an
    OPD host): per accepting policy, the sources, ports and protocols. The edge lets new
    connections from the tunnel into its LAN only where one of these matches. It is the hub's
    policy widened, never narrowed: order, later drops, schedules and applications are left to
    the hub, which enforces them exactly before anything enters the tunnel."""
    rules = []
    for policy in config.policies:
        if policy.action != "accept" or opd not in config.expand(policy.to):
            continue
        sources = set()
        for zone in config.expand(policy.from_):
            if zone == opd:
                continue  # the LAN itself: never through the tunnel
            if zone in config.opds:
                sources |= {str(s) for s in config.opds[zone].subnet}
            elif zone in config.services:
                sources |= {f"{a}/32" for a in config.services[zone].addresses}
            elif zone == "box":
                sources.add(f"{config.site.wireguard.hub_address.ip}/32")
            elif zone == "internet":
                sources.add("0.0.0.0/0")
        if sources:
            rules.append({"policy": policy.name, "from": sorted(sources, key=_net_order),
                          "ports": [str(p) for p in policy.ports], "protocols": list(policy.protocols)})
    return rules


def digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _net_order(cidr: str):
    net = IPv4Network(cidr)
    return (int(net.network_address), net.prefixlen)
