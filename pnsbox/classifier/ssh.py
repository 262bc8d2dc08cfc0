"""SSH: the version banner each side sends first (RFC 4253 §4.2)."""

from __future__ import annotations

from .wire import MORE

_MAX_BANNER = 255


def banner(buf):
    """'SSH-2.0-OpenSSH_9.2p1 Debian-2' from the start of `buf`, MORE if the line is not
    complete yet, None if `buf` does not start with a banner."""
    if bytes(buf[:4]) != b"SSH-":
        return MORE if 0 < len(buf) < 4 and b"SSH-".startswith(bytes(buf)) else None
    end = buf.find(b"\n", 0, _MAX_BANNER)
    if end < 0:
        if len(buf) < _MAX_BANNER:
            return MORE
        end = _MAX_BANNER
    return bytes(buf[:end]).rstrip(b"\r").decode("ascii", "replace")
