"""The hub's WireGuard side in the kernel: its interface, a peer per enrolled and enabled edge,
its tunnel address, and a route to each such OPD's subnets through the interface.

Its routes carry their own protocol number (TUNNEL_PROTO), apart from the routes the main
pipeline owns, so neither removes the other's. pnsboxd runs this after every apply and at once
after an enrollment or a revocation: a disabled edge's peer is gone, so its tunnel is cut, in
the time one `wg syncconf` takes."""

from __future__ import annotations

import json

from ..edge.book import EdgeBook
from ..model import Config
from ..render.wg import hub_interface
from . import wg
from .netns import run

TUNNEL_PROTO = 232  # routes to tunnelled OPDs (pnsbox's other routes carry 231)


def apply_hub(config: Config, state_dir: str, netns: str | None) -> list[str]:
    """Make the hub's tunnel side match CONFIG and the enrolled edges; what changed, as lines."""
    hub = config.site.wireguard
    if hub is None:
        return []
    book = EdgeBook(state_dir)
    edges = book.read().edges
    want = hub_interface(config, edges, book.hub_private_key())
    changes = []
    if wg.ensure(netns, want.name):
        changes.append(f"+ interface {want.name} ({wg.backend(netns)})")
    if wg.sync(netns, want):
        changes.append(f"~ {want.name}: {len(want.peers)} peer(s): {', '.join(p.origin for p in want.peers) or '-'}")
    run(["ip", "link", "set", "dev", want.name, "mtu", str(hub.mtu), "up"], netns)
    address = str(hub.hub_address)
    if f" {address} " not in run(["ip", "-4", "-o", "addr", "show", "dev", want.name], netns).stdout:
        run(["ip", "addr", "flush", "dev", want.name], netns)
        run(["ip", "addr", "add", address, "dev", want.name], netns)
        changes.append(f"+ address {address} on {want.name}")
    wanted = {cidr for peer in want.peers for cidr in peer.allowed_ips if not cidr.endswith("/32")}
    shown = run(["ip", "-4", "-j", "route", "show", "proto", str(TUNNEL_PROTO)], netns).stdout
    running = {r["dst"] if "/" in r["dst"] else f"{r['dst']}/32" for r in json.loads(shown or "[]")}
    for cidr in sorted(wanted - running):
        run(["ip", "route", "replace", cidr, "dev", want.name, "proto", str(TUNNEL_PROTO)], netns)
        changes.append(f"+ route {cidr} dev {want.name}")
    for cidr in sorted(running - wanted):
        run(["ip", "route", "del", cidr, "proto", str(TUNNEL_PROTO)], netns, check=False)
        changes.append(f"- route {cidr}")
    return changes
