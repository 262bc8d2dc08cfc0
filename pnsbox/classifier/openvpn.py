"""OpenVPN: the first packet of a session, a hard reset (the OpenVPN protocol's control
channel: opcode and key id in one byte, the sender's 8-byte session id, optionally an HMAC
or tls-crypt wrapping, an empty ack array and message packet id 0). Over TCP each packet
is preceded by its 2-byte length. The port says nothing: OpenVPN runs on 1194, 443, or any.
"""

from __future__ import annotations

from .wire import MORE

_CLIENT_RESETS = {1, 7, 10}   # P_CONTROL_HARD_RESET_CLIENT_V1, _V2, _V3
_SERVER_RESETS = {2, 8}       # P_CONTROL_HARD_RESET_SERVER_V1, _V2
_HMACS = (16, 20, 28, 32, 48, 64)  # tls-auth digests: MD5, SHA1, SHA224, SHA256, SHA384, SHA512
_TLS_CRYPT = 54               # opcode, session id, packet id, time, 32-byte tag, 5 wrapped bytes


def reset(packet: bytes) -> bool:
    """True if `packet` (one UDP payload, or one TCP record without its length) is the hard
    reset that opens an OpenVPN session."""
    size = len(packet)
    if size < 14:
        return False
    opcode, key_id = packet[0] >> 3, packet[0] & 7
    if key_id:
        return False
    if opcode in _CLIENT_RESETS:
        if size == 14:                       # no tls-auth: empty ack array, packet id 0
            return packet[9:14] == b"\0\0\0\0\0"
        for digest in _HMACS:                # tls-auth: HMAC, packet id, time, then the same
            if size == 22 + digest and packet[-5:] == b"\0\0\0\0\0" and _first_id(packet, 9 + digest):
                return True
        # tls-crypt (v2 appends the wrapped client key): packet id and time come in clear
        return (size == _TLS_CRYPT or (opcode == 10 and size > _TLS_CRYPT)) and _first_id(packet, 9)
    if opcode in _SERVER_RESETS:
        # acknowledges the client's packet 0 and names the client's session: ack array of
        # one, packet id 0, the peer's session id, then its own message packet id 0
        for digest in (0, *_HMACS):
            extra = digest + 8 if digest else 0
            if size == 26 + extra:
                ack = 9 + extra
                return packet[ack:ack + 5] == b"\x01\0\0\0\0" and packet[-4:] == b"\0\0\0\0"
    return False


def tcp_reset(buf):
    """True if a TCP stream starts with a length-prefixed hard reset, MORE while the first
    record is incomplete, None otherwise."""
    if len(buf) < 3:
        return MORE if buf and len(buf) < 3 else None
    length = (buf[0] << 8) | buf[1]
    if length < 14 or length > 1500 or (buf[2] >> 3) not in _CLIENT_RESETS | _SERVER_RESETS:
        return None
    if len(buf) < 2 + length:
        return MORE
    return True if reset(bytes(buf[2:2 + length])) else None


def _first_id(packet: bytes, at: int) -> bool:
    """The replay packet id of a session's first packets: small, counting from 1, followed
    by a plausible time (after 2009)."""
    return (packet[at:at + 3] == b"\0\0\0" and 0 < packet[at + 3] < 16
            and packet[at + 4] >= 0x4B)
