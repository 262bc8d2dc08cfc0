"""The anti-lockout check: would a change cut management access from the address that
asked for it? Pure: it answers from the configs, through the same `explain` that the
lab tests hold against the kernel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from ipaddress import IPv4Address, ip_address

from .explain import explain
from .model import ZONE_BOX, ZONE_INTERNET, Config
from .wording import say


def zone_of(config: Config, address: IPv4Address, device: str | None = None) -> str | None:
    """The zone of a source address arriving on `device` (None: unknown, not checked), as the
    hub's zone map keys it: interface and address together. None: no zone, so no access."""
    for name, opd in config.opds.items():
        if any(address in subnet for subnet in opd.subnet) and device in (None, opd.link.device):
            return name
    for name, service in config.services.items():
        if address in service.addresses and device in (None, service.link.device):
            return name
    if device in (None, config.site.uplink.interface):
        return ZONE_INTERNET
    return None


def _allowed(config: Config | None, address: IPv4Address, port: str, now: datetime | None,
             device: str | None) -> tuple[bool, str]:
    if config is None:  # pnsbox is not filtering yet: everything reaches the box
        return True, say("lockout.no_ruleset")
    zone = zone_of(config, address, device)
    if zone is None:
        return False, say("lockout.no_zone", address=str(address), device=str(device))
    answer = explain(config, zone, ZONE_BOX, port, now)
    return answer.action == "accept", say("lockout.in_zone", address=str(address), zone=zone,
                                          decision=answer.lines()[0][1])


def lockout(old: Config | None | Callable[[], Config | None], new: Config, origin: str, port: str | None,
            now: datetime | None = None, device: str | None = None) -> str | None:
    """Why `new` would lock out the requester, or None. `origin` is like `ssh:10.30.0.5`
    (the CLI over SSH) or `web:10.30.0.5`; a local console cannot be locked out. `now` decides
    scheduled policies (None: taken as open); `device` is where the requester's packets arrive.
    `old` may be a function giving the running config: it is called only when `new` shuts out."""
    kind, _, text = origin.partition(":")
    if not text or kind not in ("ssh", "web", "api"):
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if address.version != 4 or address.is_loopback:
        return None
    port = port or ("tcp/22" if kind == "ssh" else "tcp/443")
    still, why = _allowed(new, address, port, now, device)
    if still:
        return None
    was, _ = _allowed(old() if callable(old) else old, address, port, now, device)  # parsed only when needed
    if was:
        return say("lockout.would_cut", kind=kind, address=str(address), port=port, why=why)
    return None
