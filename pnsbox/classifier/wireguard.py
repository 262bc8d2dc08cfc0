"""WireGuard: its handshake messages have fixed types and sizes (the WireGuard paper,
section 5.4): initiation (type 1, 148 bytes), response (type 2, 92 bytes), cookie reply
(type 3, 64 bytes), each with three reserved zero bytes after the type. On any port."""

from __future__ import annotations

_SIZES = {1: 148, 2: 92, 3: 64}


def handshake(payload: bytes) -> bool:
    return (len(payload) in (148, 92, 64) and _SIZES.get(payload[0]) == len(payload)
            and payload[1:4] == b"\0\0\0")
