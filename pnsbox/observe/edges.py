"""The hub's edges as they run: per OPD, its peer's last handshake, endpoint and bytes (from
the hub's WireGuard interface), its key's age, and the config version it last fetched."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..apply.owned import OwnedRecord
from ..edge.book import EdgeBook
from . import wg

UP_WITHIN = 180  # seconds: a handshake this recent means the edge is up (WireGuard rekeys every 120 s)
FETCHED = "edges-fetched.json"  # OPD -> {"version", "digest", "time"}: written by pnsboxd when it changes


@dataclass(frozen=True)
class EdgeSeen:
    opd: str
    enrolled: bool
    disabled: bool
    public_key: str | None
    key_since: float | None
    endpoint: str | None
    latest_handshake: int  # Unix time, 0: never
    rx_bytes: int  # from the edge
    tx_bytes: int  # to the edge
    fetched_version: int | None
    fetched_at: float | None

    def up(self, now: float) -> bool:
        return self.latest_handshake > 0 and now - self.latest_handshake < UP_WITHIN


def read(netns: str | None, state_dir: str) -> tuple[str | None, list[EdgeSeen]]:
    """(the hub's WireGuard interface or None, every enrolled edge as it runs)."""
    interface = OwnedRecord(state_dir, netns).read().wireguard
    book = EdgeBook(state_dir).read()
    if interface is None and not book.edges:
        return None, []
    running = wg.read(netns, interface) if interface else None
    peers = running.peers if running else {}
    try:
        fetched = json.loads((Path(state_dir) / FETCHED).read_text())
    except (FileNotFoundError, ValueError):
        fetched = {}
    out = []
    for opd, edge in sorted(book.edges.items()):
        peer = peers.get(edge.public_key)
        seen = fetched.get(opd, {})
        out.append(EdgeSeen(opd, True, edge.disabled, edge.public_key, edge.key_since,
                            peer.endpoint if peer else None, peer.latest_handshake if peer else 0,
                            peer.rx_bytes if peer else 0, peer.tx_bytes if peer else 0,
                            seen.get("version"), seen.get("time")))
    return interface, out


def lines(netns: str | None, state_dir: str, now: float | None = None) -> list[str]:
    """`pnsbox show`'s edge table."""
    interface, edges = read(netns, state_dir)
    if interface is None and not edges:
        return []
    now = time.time() if now is None else now
    backend = (OwnedRecord(state_dir, netns).read().facts or {}).get("wireguard")
    out = [f"\nedges on {interface or '(no interface)'}" + (f" (WireGuard: {backend})" if backend else ""),
           f"{'OPD':<16}{'state':<10}{'last handshake':>16}  {'endpoint':<22}{'version':>8}{'key age':>10}"
           f"{'from edge':>12}{'to edge':>12}"]
    for e in edges:
        state = "disabled" if e.disabled else ("up" if e.up(now) else "down")
        handshake = f"{now - e.latest_handshake:.0f} s ago" if e.latest_handshake else "never"
        age = f"{(now - e.key_since) / 86400:.1f} d" if e.key_since else "-"
        out.append(f"{e.opd:<16}{state:<10}{handshake:>16}  {e.endpoint or '-':<22}"
                   f"{e.fetched_version if e.fetched_version is not None else '-':>8}{age:>10}"
                   f"{e.rx_bytes:>12}{e.tx_bytes:>12}")
    return out
