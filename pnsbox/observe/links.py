"""Links, addresses and routes as the kernel has them, through iproute2's JSON."""

from __future__ import annotations

import json

from ..apply.netns import run
from ..plan import ROUTE_PROTO


def _ip_json(netns: str | None, *args: str) -> list:
    return json.loads(run(["ip", "-j", *args], netns).stdout or "[]")


def read(netns: str | None) -> dict:
    """Links (up or not), IPv4 addresses, pnsbox's own routes, and whether the box forwards."""
    links = {link["ifname"]: {"up": "UP" in link.get("flags", [])} for link in _ip_json(netns, "link", "show")}
    addresses = {(entry["ifname"], f"{a['local']}/{a['prefixlen']}")
                 for entry in _ip_json(netns, "-4", "addr", "show") for a in entry.get("addr_info", [])}
    routes = set()
    for route in _ip_json(netns, "-4", "route", "show", "table", "main", "proto", str(ROUTE_PROTO)):
        dst = route["dst"]
        destination = dst if dst == "default" or "/" in dst else f"{dst}/32"
        routes.add((destination, route.get("dev"), route.get("gateway")))
    forwarding = run(["sysctl", "-n", "net.ipv4.ip_forward"], netns).stdout.strip() == "1"
    return {"links": links, "addresses": addresses, "routes": routes, "forwarding": forwarding}
