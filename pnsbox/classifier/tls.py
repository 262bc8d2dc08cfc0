"""TLS: the server name (SNI) of a ClientHello, also when it spans several records or
TCP segments (the caller hands over everything the client sent so far)."""

from __future__ import annotations

from struct import Struct

from .wire import MORE, text

_TYPE_LENGTH = Struct("!HH").unpack_from  # an extension's type and length

_HANDSHAKE = 22
_RECORD_TYPES = frozenset({20, 21, 22, 23})   # change_cipher_spec, alert, handshake, application_data
_CLIENT_HELLO = 1
_SERVER_NAME = 0
_MAX_HELLO = 1 << 16  # no ClientHello is waited for beyond this


def record_sni(buf):
    """From the bytes a TCP client sent: the SNI, "" if this is TLS but no name can be had
    from it (not a ClientHello, or a ClientHello without SNI), MORE if the ClientHello is
    incomplete, None if `buf` is not TLS."""
    if len(buf) < 5:
        if buf and buf[0] == _HANDSHAKE and (len(buf) < 2 or buf[1] == 3):
            return MORE
        return None
    if buf[0] not in _RECORD_TYPES or buf[1] != 3 or buf[2] > 4:
        return None
    if buf[0] != _HANDSHAKE:
        return ""
    first_length = (buf[3] << 8) | buf[4]
    if len(buf) >= 6 and buf[5] != _CLIENT_HELLO:
        return ""
    if len(buf) >= 9:
        needed = 4 + ((buf[6] << 16) | (buf[7] << 8) | buf[8])
        if first_length >= needed:  # the usual case: the whole hello in the first record
            if len(buf) < 5 + needed:
                return MORE
            # (hello_sni takes bytes, which a compiled build checks: a bytearray stream is copied)
            return hello_sni(buf if type(buf) is bytes else bytes(buf), 5, min(5 + needed, len(buf)))
        if needed > _MAX_HELLO:
            return ""
    message = _handshake_bytes(buf)
    if message is None:
        return ""
    if len(message) < 4:
        return MORE
    needed = 4 + ((message[1] << 16) | (message[2] << 8) | message[3])
    if len(message) < needed:
        return MORE
    return hello_sni(message, 0, needed)


def _handshake_bytes(buf) -> bytes | None:
    """The handshake layer carried by consecutive handshake records at the start of `buf`."""
    parts: list[bytes] = []
    pos = 0
    while pos + 5 <= len(buf):
        if buf[pos] != _HANDSHAKE or buf[pos + 1] != 3:
            return None if pos == 0 else b"".join(parts)
        length = (buf[pos + 3] << 8) | buf[pos + 4]
        parts.append(bytes(buf[pos + 5:pos + 5 + length]))
        pos += 5 + length
    return b"".join(parts)


def hello_sni(msg: bytes, start: int, end: int) -> object:
    """SNI of the handshake message at msg[start:end] (type, 3-byte length, body): the
    name, or "" when it is not a ClientHello, has no SNI or is malformed."""
    if end - start < 4 or msg[start] != _CLIENT_HELLO:
        return ""
    pos = start + 4 + 2 + 32  # type and length; legacy version; random
    if pos >= end:
        return ""
    pos += 1 + msg[pos]  # session id
    if pos + 2 > end:
        return ""
    pos += 2 + ((msg[pos] << 8) | msg[pos + 1])  # cipher suites
    if pos >= end:
        return ""
    pos += 1 + msg[pos]  # compression methods
    if pos + 2 > end:
        return ""
    ext_end = min(pos + 2 + ((msg[pos] << 8) | msg[pos + 1]), end)
    pos += 2
    while pos + 4 <= ext_end:
        kind, length = _TYPE_LENGTH(msg, pos)
        pos += 4
        if kind == _SERVER_NAME:
            return _server_name(msg, pos, min(pos + length, ext_end))
        pos += length
    return ""


def _server_name(msg: bytes, pos: int, end: int) -> str:
    pos += 2  # list length
    while pos + 3 <= end:
        kind = msg[pos]
        length = (msg[pos + 1] << 8) | msg[pos + 2]
        pos += 3
        if kind == 0 and pos + length <= end:  # host_name
            return text(msg[pos:pos + length])
        pos += length
    return ""
