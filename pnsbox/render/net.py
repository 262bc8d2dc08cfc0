"""Config -> the links, addresses and routes the box should have, as data."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network

from ..model import Config


@dataclass(frozen=True, order=True)
class WantLink:
    device: str
    trunk: str | None = None  # set for a VLAN device pnsbox creates
    vlan: int | None = None
    origin: str = ""
    wireguard: bool = False  # the hub's WireGuard interface, which pnsbox creates


@dataclass(frozen=True, order=True)
class WantAddress:
    device: str
    address: str  # CIDR, e.g. 10.21.0.1/24
    origin: str = ""


@dataclass(frozen=True, order=True)
class WantRoute:
    destination: str  # CIDR, or "default"
    device: str
    gateway: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class NetState:
    links: tuple[WantLink, ...]
    addresses: tuple[WantAddress, ...]
    routes: tuple[WantRoute, ...]


def gateway_address(subnet: IPv4Network) -> IPv4Interface:
    """The box takes the first usable address of each OPD subnet."""
    return IPv4Interface(f"{subnet.network_address + 1}/{subnet.prefixlen}")


def render_net(config: Config, me: str | None = None) -> NetState:
    """In an HA site (`me`: which hub this is), the gateway addresses are keepalived's to move
    (render.ha); this hub's own address is its peer address on the sync interface."""
    links: dict[str, WantLink] = {}
    routes: list[WantRoute] = []
    uplink = config.site.uplink
    links[uplink.interface] = WantLink(uplink.interface, origin="site.uplink")
    # In an HA pair the standby has no uplink address; the route is added `onlink` (apply/links.py)
    # so it stands on both hubs and carries traffic on whichever holds the address.
    routes.append(WantRoute("default", uplink.interface, str(uplink.gateway), "site.uplink.gateway"))
    hub = config.site.wireguard
    if hub is not None and any(opd.link.is_wireguard for opd in config.opds.values()):
        # One interface for every tunnelled OPD; each OPD's subnets are routed into it, and
        # WireGuard hands each packet to the peer whose allowed IPs hold its destination.
        links[hub.interface] = WantLink(hub.interface, origin="site.wireguard", wireguard=True)
    for name, opd in config.opds.items():
        link = opd.link
        if link.is_wireguard:
            routes += [WantRoute(str(subnet), link.device, None, f"opds.{name}.subnet") for subnet in opd.subnet]
            continue
        links[link.device] = WantLink(link.device, link.trunk, link.vlan, f"opds.{name}.link")
    for name, service in config.services.items():
        link = service.link
        links.setdefault(link.device, WantLink(link.device, origin=f"services.{name}.link"))
        for addr in service.addresses:
            if link.address is None or addr not in link.address.network:
                routes.append(WantRoute(f"{addr}/32", link.device, None, f"services.{name}.addresses"))
    ha = config.site.ha
    if ha is None:
        addresses = gateway_addresses(config)
    else:
        if me not in ha.peers:
            raise ValueError(f"render_net: {me!r} is not one of site.ha.peers ({', '.join(ha.peers)})")
        links[ha.sync_interface] = WantLink(ha.sync_interface, origin="site.ha.sync.interface")
        addresses = (WantAddress(ha.sync_interface, str(ha.own_address(me)), f"site.ha.peers.{me}"),)
    return NetState(tuple(links.values()), addresses, tuple(routes))


def gateway_addresses(config: Config) -> tuple[WantAddress, ...]:
    """The box's addresses on its links: the uplink's, each OPD subnet's gateway, the service
    links' and the tunnel's. In an HA site these move between the hubs (virtual_addresses)."""
    addresses: list[WantAddress] = []
    uplink = config.site.uplink
    addresses.append(WantAddress(uplink.interface, str(uplink.address), "site.uplink.address"))
    hub = config.site.wireguard
    if hub is not None and any(opd.link.is_wireguard for opd in config.opds.values()):
        addresses.append(WantAddress(hub.interface, str(hub.hub_address), "site.wireguard.tunnel"))
    for name, opd in config.opds.items():
        if not opd.link.is_wireguard:
            addresses += [WantAddress(opd.link.device, str(gateway_address(subnet)), f"opds.{name}.subnet")
                          for subnet in opd.subnet]
    for name, service in config.services.items():
        link = service.link
        if link.address is not None:
            want = WantAddress(link.device, str(link.address), f"services.{name}.link.address")
            if want.address not in {a.address for a in addresses if a.device == link.device}:
                addresses.append(want)
    return tuple(addresses)


def virtual_addresses(config: Config) -> tuple[WantAddress, ...]:
    """An HA site's moving addresses: every gateway address, the uplink's as site.ha.virtual says."""
    moving = config.site.ha.virtual_uplink if config.site.ha else None
    out = []
    for want in gateway_addresses(config):
        if moving is not None and want.origin == "site.uplink.address":
            want = WantAddress(want.device, str(moving), "site.ha.virtual.uplink")
        out.append(want)
    return tuple(out)
