"""RTP and RTCP (RFC 3550): version 2 in the first two bits. A lone header proves little, so
RTP is named either on an address and port that signalling (SIP's SDP) or an identified
STUN exchange announced, or by its own structure over two packets of one sender: the same
SSRC and consecutive sequence numbers."""

from __future__ import annotations

_RTCP_TYPES = range(200, 205)   # SR, RR, SDES, BYE, APP


def header(payload: bytes) -> tuple[int, int] | None:
    """(SSRC, sequence number) of an RTP packet with a payload type RFC 3551 assigns or
    leaves dynamic; None otherwise (RTCP included)."""
    if len(payload) < 12 or payload[0] & 0xC0 != 0x80:
        return None
    kind = payload[1] & 0x7F
    if 35 <= kind < 96 or payload[1] in _RTCP_TYPES:
        return None
    return int.from_bytes(payload[8:12], "big"), (payload[2] << 8) | payload[3]


def media(payload: bytes) -> bool:
    """RTP or RTCP at all: what an announced media port is expected to carry."""
    return len(payload) >= 8 and payload[0] & 0xC0 == 0x80


def follows(earlier: tuple[int, int], later: tuple[int, int]) -> bool:
    return earlier[0] == later[0] and (earlier[1] + 1) & 0xFFFF == later[1]
