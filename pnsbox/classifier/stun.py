"""STUN and TURN (RFC 8489, RFC 8656): a 20-byte header (two zero bits, the message type, a
length that is the rest of the datagram, the magic cookie 0x2112A442, a transaction id)
followed by type-length-value attributes padded to 4 bytes. Classic STUN (RFC 3489, still
sent by Zoom) has no cookie: there the message type must be one RFC 3489 defines. Which application makes the
call shows in attributes some of them define:

- Microsoft Teams and Skype for Business speak MS-TURN ([MS-TURN]): MS-VERSION (0x8008),
  MS-IMPLEMENTATION-VERSION (0x8070), MS-SEQUENCE-NUMBER (0x8050), MS-SERVICE-QUALITY
  (0x8055) and its legacy MAGIC-COOKIE attribute (0x000F);
- WhatsApp's relays take attributes 0x4000-0x4007 on their allocations (WhatsApp leaves
  the last attribute unpadded, so the length need not be a multiple of 4).
"""

from __future__ import annotations

COOKIE = b"\x21\x12\xa4\x42"
_MS_TURN = frozenset({0x000F, 0x8008, 0x8050, 0x8055, 0x8070})
_WHATSAPP = frozenset(range(0x4000, 0x4008))
_MAX_ATTRIBUTES = 64
# RFC 3489 Binding and Shared Secret requests, responses and error responses
_CLASSIC_TYPES = frozenset({0x0001, 0x0101, 0x0111, 0x0002, 0x0102, 0x0112})


def attributes(payload) -> list[int] | None:
    """The attribute types of a STUN message that is exactly `payload`, else None."""
    size = len(payload)
    if size < 20 or payload[0] & 0xC0:
        return None
    classic = bytes(payload[4:8]) != COOKIE
    if classic and (((payload[0] << 8) | payload[1]) not in _CLASSIC_TYPES or size == 20):
        return None  # without the cookie, only a defined type with attributes says STUN
    if ((payload[2] << 8) | payload[3]) + 20 != size:
        return None
    types = []
    pos = 20
    while pos < size:
        if pos + 4 > size or len(types) >= _MAX_ATTRIBUTES:
            return None
        kind = (payload[pos] << 8) | payload[pos + 1]
        end = pos + 4 + ((payload[pos + 2] << 8) | payload[pos + 3])
        pos = end + (-end & 3)
        types.append(kind)
    # WhatsApp leaves its last attribute unpadded (and the length not a multiple of 4)
    return types if pos == size or end == size else None


def application(types: list[int]) -> str | None:
    """The catalog application whose calls these attributes belong to, if they say."""
    for kind in types:
        if kind in _MS_TURN:
            return "teams"
        if kind in _WHATSAPP:
            return "whatsapp"
    return None


def tcp_message(buf):
    """STUN over TCP without framing (RFC 8489 §7.2.2): the first message must be whole."""
    if len(buf) < 20 or bytes(buf[4:8]) != COOKIE:
        return None
    length = ((buf[2] << 8) | buf[3]) + 20
    if len(buf) < length:
        return None
    return attributes(bytes(buf[:length]))
