"""BitTorrent: the peer wire handshake (BEP 3), uTP's connection setup (BEP 29), the DHT's
KRPC messages (BEP 5), tracker announces over UDP (BEP 15) and HTTP (BEP 3).

Each rule reads a structure the specification fixes; nothing depends on ports, which
BitTorrent clients pick at random.
"""

from __future__ import annotations

from .wire import MORE

HANDSHAKE = b"\x13BitTorrent protocol"
_UDP_TRACKER_MAGIC = (0x41727101980).to_bytes(8, "big")
_UTP_SYN, _UTP_STATE = 0x41, 0x21   # type << 4 | version 1
_MAX_DEPTH = 6
_MAX_ITEMS = 64


def handshake(buf):
    """True if a TCP stream starts with the peer wire handshake, MORE while it may."""
    head = bytes(buf[:20])
    if head == HANDSHAKE:
        return True
    return MORE if 0 < len(head) < 20 and HANDSHAKE.startswith(head) else None


def tracker_request(head: bytes) -> bool:
    """An HTTP request line that announces to (or scrapes) a tracker: the info_hash
    parameter on /announce or /scrape (BEP 3, BEP 48)."""
    line = head[:head.find(b"\r\n")] if b"\r\n" in head else head[:2048]
    target = line.split(b" ", 2)[1] if line.count(b" ") >= 2 else b""
    path, _, query = target.partition(b"?")
    return (path.endswith((b"/announce", b"/scrape", b"/announce.php", b"/scrape.php"))
            and (query.startswith(b"info_hash=") or b"&info_hash=" in query))


def udp_message(payload: bytes) -> bool:
    """A DHT KRPC message (a bencoded dictionary with a transaction id `t` and a type `y` of
    q, r or e) or a UDP tracker connect request (its protocol id constant)."""
    if payload[:1] == b"d" and payload[-1:] == b"e":
        return _krpc(payload)
    return len(payload) >= 16 and payload[:8] == _UDP_TRACKER_MAGIC and payload[8:12] == b"\0\0\0\0"


def utp_syn(payload: bytes) -> tuple[int, int] | None:
    """(connection id, sequence number) of a uTP ST_SYN: 20-byte header, no timestamp
    difference yet (nothing was received), no acknowledgement."""
    if len(payload) < 20 or payload[0] != _UTP_SYN or payload[1] > 4:
        return None
    if payload[8:12] != b"\0\0\0\0" or payload[18:20] != b"\0\0":
        return None
    return (payload[2] << 8) | payload[3], (payload[16] << 8) | payload[17]


def utp_answers(payload: bytes, syn: tuple[int, int]) -> bool:
    """The peer's ST_STATE that accepts that SYN: the same connection id, acknowledging the
    SYN's sequence number."""
    return (len(payload) >= 20 and payload[0] == _UTP_STATE and payload[1] <= 4
            and ((payload[2] << 8) | payload[3]) == syn[0]
            and ((payload[18] << 8) | payload[19]) == syn[1])


def _krpc(payload: bytes) -> bool:
    try:
        value, end = _decode(payload, 0, 0)
    except (ValueError, IndexError):
        return False
    return (end == len(payload) and isinstance(value, dict) and value.get(b"y") in (b"q", b"r", b"e")
            and b"t" in value)


def _decode(buf: bytes, pos: int, depth: int):
    """One bencoded value at `pos` -> (value, next position); nested containers are
    checked but only the top dictionary's byte-string values are kept."""
    if depth > _MAX_DEPTH:
        raise ValueError("too deep")
    first = buf[pos]
    if first == 0x64:  # d
        out = {}
        pos += 1
        while buf[pos] != 0x65:
            if len(out) >= _MAX_ITEMS:
                raise ValueError("too many keys")
            key, pos = _decode(buf, pos, depth + 1)
            if not isinstance(key, bytes):
                raise ValueError("key is not a string")
            out[key], pos = _decode(buf, pos, depth + 1)
        return out, pos + 1
    if first == 0x6C:  # l
        pos += 1
        count = 0
        while buf[pos] != 0x65:
            count += 1
            if count > _MAX_ITEMS:
                raise ValueError("too many items")
            _, pos = _decode(buf, pos, depth + 1)
        return None, pos + 1
    if first == 0x69:  # i
        end = buf.index(b"e", pos + 1, pos + 24)
        int(buf[pos + 1:end])
        return None, end + 1
    colon = buf.index(b":", pos, pos + 8)
    length = int(buf[pos:colon])
    if length < 0 or not buf[pos:colon].isdigit() or colon + 1 + length > len(buf):
        raise ValueError("bad string")
    return buf[colon + 1:colon + 1 + length], colon + 1 + length
