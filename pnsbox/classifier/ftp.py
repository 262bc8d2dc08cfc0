"""FTP (RFC 959, RFC 2428): where the data connection goes. The control channel names it:
the client's PORT h1,h2,h3,h4,p1,p2 or EPRT |1|address|port|, the server's answers
227 (... h1,h2,h3,h4,p1,p2) to PASV and 229 (|||port|) to EPSV (the control connection's
server address)."""

from __future__ import annotations

import ipaddress
import re

_NUMBERS = re.compile(rb"(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})")
_EPSV = re.compile(rb"\(([!-~])\1\1(\d{1,5})\1\)")
_EPRT = re.compile(rb"^EPRT ([!-~])([12])\1([0-9a-fA-F.:]{2,45})\1(\d{1,5})\1", re.I)


def banner(payload: bytes) -> bool:
    """A server greeting that calls itself FTP (220 ... FTP ...)."""
    line = payload[:payload.find(b"\n", 0, 256)]
    return line.startswith((b"220 ", b"220-")) and b"FTP" in line.upper()


def data_endpoint(payload: bytes, server: bytes) -> tuple[bytes, int] | None:
    """(address, port) the next data connection will reach, from one control message."""
    for line in payload.split(b"\n")[:16]:
        line = line.strip()
        upper = line[:5].upper()
        if line.startswith(b"227") or upper.startswith(b"PORT "):
            found = _NUMBERS.search(line)
            if found:
                parts = [int(n) for n in found.groups()]
                if max(parts) <= 255:
                    return bytes(parts[:4]), parts[4] << 8 | parts[5]
        elif line.startswith(b"229"):
            found = _EPSV.search(line)
            if found and 0 < int(found[2]) < 65536:
                return server, int(found[2])
        elif upper.startswith(b"EPRT "):
            found = _EPRT.match(line)
            if found and 0 < int(found[4]) < 65536:
                try:
                    return ipaddress.ip_address(found[3].decode()).packed, int(found[4])
                except ValueError:
                    return None
    return None
