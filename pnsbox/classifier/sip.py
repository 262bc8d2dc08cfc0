"""SIP (RFC 3261) over UDP: a request line `METHOD sip:... SIP/2.0` or a status line
`SIP/2.0 NNN`, and the media addresses its SDP body (RFC 4566) offers."""

from __future__ import annotations

import ipaddress

_METHODS = (b"INVITE ", b"REGISTER ", b"ACK ", b"BYE ", b"CANCEL ", b"OPTIONS ", b"PRACK ",
            b"SUBSCRIBE ", b"NOTIFY ", b"PUBLISH ", b"INFO ", b"REFER ", b"MESSAGE ", b"UPDATE ")
_MAX_MEDIA = 8


def message(payload: bytes) -> bool:
    line = payload[:payload.find(b"\r\n", 0, 512)]
    if line.startswith(b"SIP/2.0 "):
        return len(line) >= 11 and line[8:11].isdigit()
    return line.startswith(_METHODS) and line.endswith(b" SIP/2.0") and b" sip" in line.lower()


def media(payload: bytes) -> list[tuple[bytes, int]]:
    """(address, port) for each RTP stream and its RTCP port the SDP body offers."""
    body = payload.find(b"\r\n\r\n")
    if body < 0:
        return []
    address = None
    out: list[tuple[bytes, int]] = []
    for line in payload[body + 4:].split(b"\n"):
        line = line.strip()
        if line.startswith(b"c=IN IP"):
            try:
                address = ipaddress.ip_address(line[9:].split(b"/")[0].decode()).packed
            except (ValueError, UnicodeDecodeError):
                address = None
        elif line.startswith(b"m=") and address is not None and len(out) < _MAX_MEDIA:
            fields = line.split()
            if len(fields) > 1 and fields[1].isdigit() and 0 < int(fields[1]) < 65535:
                out += [(address, int(fields[1])), (address, int(fields[1]) + 1)]
    return out
