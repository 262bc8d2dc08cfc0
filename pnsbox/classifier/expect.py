"""Endpoints that one flow announced for others: an FTP data connection (PORT/PASV), the
media ports an SDP offer names, the UDP socket an identified call's STUN exchange used (ICE
sends every candidate check and the media itself from that one socket). A later flow to or
from such an endpoint belongs to the announcing application.

Bounded like the name memory: the oldest entries go first, each lives a short while.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

FTP_SECONDS = 120      # a data connection follows its PASV/PORT at once
CALL_SECONDS = 600     # a call's socket stays in use for the call


class Expected(NamedTuple):
    app: str          # catalog application
    protocol: str     # what the announcing flow was (ftp, sip, stun)
    media: bool       # only media (STUN/RTP/RTCP) payloads belong to it
    until: float


class Expectations:
    def __init__(self, max_entries: int = 16384):
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple[int, bytes, int], Expected] = OrderedDict()

    def add(self, proto: int, address: bytes, port: int, app: str, protocol: str,
            media: bool, seconds: float, now: float) -> None:
        key = (proto, address, port)
        entries = self.entries
        entries[key] = Expected(app, protocol, media, now + seconds)
        entries.move_to_end(key)
        if len(entries) > self.max_entries:
            entries.popitem(last=False)

    def find(self, proto: int, address: bytes, port: int, now: float) -> Expected | None:
        entry = self.entries.get((proto, address, port))
        if entry is not None and entry.until < now:
            del self.entries[(proto, address, port)]
            return None
        return entry

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)
