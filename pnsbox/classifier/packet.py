"""IPv4/IPv6 with TCP/UDP headers: just enough to key a flow and find its payload.

Input is what NFQUEUE delivers: a packet starting at the IP header. Nothing is copied but
the two addresses; the payload is returned as offsets into the packet.
"""

from __future__ import annotations

from struct import Struct
from typing import NamedTuple

TCP = 6
UDP = 17
TCP_SYN = 0x02
TCP_ACK = 0x10

_PORTS = Struct("!HH")
_TCP_HEAD = Struct("!HHIxxxxBB")  # ports, sequence number, data offset, flags
_U16 = Struct("!H")
# IPv6 extension headers we step over on the way to TCP/UDP
_HOP_BY_HOP, _ROUTING, _FRAGMENT, _AH, _DEST_OPTS = 0, 43, 44, 51, 60
_V6_EXTENSIONS = frozenset({_HOP_BY_HOP, _ROUTING, _FRAGMENT, _AH, _DEST_OPTS})


class Parsed(NamedTuple):
    proto: int          # IP protocol number
    src: bytes          # 4 or 16 bytes
    sport: int          # 0 for protocols without ports
    dst: bytes
    dport: int
    start: int          # payload is data[start:end]
    end: int
    tcp_flags: int      # 0 unless TCP
    seq: int            # TCP sequence number of the payload's first byte, else 0


_new = tuple.__new__  # builds a Parsed without the Python-level __new__ (hot path)


def parse(data: bytes) -> Parsed | None:
    """The headers of one IP packet, or None if it is not one we can key (non-first
    fragments, truncated headers, other IP versions)."""
    size = len(data)
    if size < 20:
        return None
    version = data[0] >> 4
    if version == 4:
        header = (data[0] & 0x0F) * 4
        # the IP total length trims link-layer padding; a short capture is taken as it is
        end = (data[2] << 8) | data[3]
        if end > size:
            end = size
        if header < 20 or end < header:
            return None
        if (data[6] & 0x1F) or data[7]:
            return None  # a non-first fragment carries no TCP/UDP header
        proto = data[9]
        src = data[12:16]
        dst = data[16:20]
        pos = header
    elif version == 6:
        if size < 40:
            return None
        end = min(40 + _U16.unpack_from(data, 4)[0], size)
        proto = data[6]
        pos = 40
        while proto in _V6_EXTENSIONS:
            if pos + 8 > end:
                return None
            if proto == _FRAGMENT:
                if _U16.unpack_from(data, pos + 2)[0] & 0xFFF8:
                    return None
                length = 8
            elif proto == _AH:
                length = (data[pos + 1] + 2) * 4
            else:
                length = (data[pos + 1] + 1) * 8
            proto = data[pos]
            pos += length
        if pos > end:
            return None
        src = data[8:24]
        dst = data[24:40]
    else:
        return None

    if proto == TCP:
        if pos + 20 > end:
            return None
        sport, dport, seq, offset, flags = _TCP_HEAD.unpack_from(data, pos)
        offset = (offset >> 4) * 4
        if offset < 20:
            return None
        start = pos + offset
        return _new(Parsed, (proto, src, sport, dst, dport, start if start < end else end, end, flags, seq))
    if proto == UDP:
        if pos + 8 > end:
            return None
        sport, dport = _PORTS.unpack_from(data, pos)
        length = _U16.unpack_from(data, pos + 4)[0]
        if length >= 8:
            end = min(end, pos + length)
        return _new(Parsed, (proto, src, sport, dst, dport, pos + 8, end, 0, 0))
    return _new(Parsed, (proto, src, 0, dst, 0, end, end, 0, 0))
