"""Links, addresses and routes through netlink (pyroute2), in one namespace."""

from __future__ import annotations

from ipaddress import IPv4Interface

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from ..plan import ROUTE_PROTO, Step
from .netns import KernelError, run

MAIN_TABLE = 254
PNSBOX_ALIAS = "pnsbox"  # set on links pnsbox creates


def observe(ipr: IPRoute, netns: str | None) -> dict:
    names = {}
    links = {}
    for link in ipr.get_links():
        name = link.get("ifname")
        names[link["index"]] = name
        links[name] = {"up": bool(link["flags"] & 1), "alias": link.get("ifalias")}
    addresses = {(names.get(a["index"]), f"{a.get('address')}/{a['prefixlen']}")
                 for a in ipr.get_addr(family=2)}
    routes = set()
    for route in ipr.get_routes(family=2, table=MAIN_TABLE, proto=ROUTE_PROTO):
        if route["proto"] != ROUTE_PROTO:
            continue
        dst = route.get("dst")
        destination = f"{dst}/{route['dst_len']}" if dst else "default"
        routes.add((destination, names.get(route.get("oif")), route.get("gateway")))
    forwarding = run(["sysctl", "-n", "net.ipv4.ip_forward"], netns).stdout.strip() == "1"
    return {"links": links, "addresses": addresses, "routes": routes, "forwarding": forwarding}


def execute(ipr: IPRoute, netns: str | None, step: Step) -> None:
    """Carry out one link/address/route step; errors name the step and its origin."""
    try:
        _execute(ipr, netns, step)
    except NetlinkError as exc:
        hint = ""
        if step.kind == "vlan-add" and exc.code == 95:
            hint = " (this kernel has no 802.1Q VLAN support)"
        raise KernelError(f"{step.origin or 'pnsbox'}: {step.text.strip()}: {exc.args[-1]}{hint}") from exc


def _index(ipr: IPRoute, device: str) -> int:
    found = ipr.link_lookup(ifname=device)
    if not found:
        raise KernelError(f"interface {device} does not exist")
    return found[0]


def _execute(ipr: IPRoute, netns: str | None, step: Step) -> None:
    kind, args = step.kind, step.args
    if kind == "vlan-add":
        device, trunk, vlan = args
        ipr.link("add", ifname=device, kind="vlan", link=_index(ipr, trunk), vlan_id=vlan)
        ipr.link("set", index=_index(ipr, device), ifalias=PNSBOX_ALIAS)
    elif kind == "ifb-add":
        ipr.link("add", ifname=args[0], kind="ifb")
        ipr.link("set", index=_index(ipr, args[0]), ifalias=PNSBOX_ALIAS, state="up")
    elif kind == "link-up":
        ipr.link("set", index=_index(ipr, args[0]), state="up")
    elif kind == "link-del":
        ipr.link("del", index=_index(ipr, args[0]))
    elif kind in ("address-add", "address-del"):
        device, cidr = args
        iface = IPv4Interface(cidr)
        ipr.addr("add" if kind == "address-add" else "del", index=_index(ipr, device),
                 address=str(iface.ip), prefixlen=iface.network.prefixlen)
    elif kind in ("route-add", "route-del"):
        destination, device, gateway = args
        spec = {"dst": destination if destination != "default" else "0.0.0.0/0",
                "oif": _index(ipr, device), "proto": ROUTE_PROTO, "table": MAIN_TABLE}
        if gateway:
            spec["gateway"] = gateway
        else:
            spec["scope"] = 253  # link: the destination is on the wire
        ipr.route("replace" if kind == "route-add" else "del", **spec)
    elif kind == "forwarding":
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns)
    else:
        raise ValueError(f"unknown step kind {kind}")
