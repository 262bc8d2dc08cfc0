"""What the payload parsers share: the "need more bytes" answer and QUIC's integers."""

from __future__ import annotations


class _More:
    """A parser's answer when the bytes so far are the start of its protocol but end too soon."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MORE"


MORE = _More()


_VARINT_MASKS = (0, 0x3F, 0x3FFF, 0, 0x3FFF_FFFF, 0, 0, 0, 0x3FFF_FFFF_FFFF_FFFF)


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """QUIC variable-length integer at `pos` -> (value, next position); (-1, pos) if cut off.
    (On a new QUIC flow's path several times: one-byte values first, longer ones in one call.)"""
    if pos >= len(buf):
        return -1, pos
    first = buf[pos]
    if first < 0x40:
        return first, pos + 1
    size = 1 << (first >> 6)
    end = pos + size
    if end > len(buf):
        return -1, pos
    return int.from_bytes(buf[pos:end], "big") & _VARINT_MASKS[size], end


_NAME_CHARS = bytes(c if chr(c) in "abcdefghijklmnopqrstuvwxyz0123456789.-_:" else ord("_")
                    for c in range(256))
_UPPER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


def text(raw) -> str:
    """Host name bytes off the wire -> lower case, anything but letters, digits and . - _ :
    turned into _ (as nDPI does; keeps logs and metric labels clean). Never raises."""
    return bytes(raw).strip().translate(_UPPER).translate(_NAME_CHARS).decode("ascii").rstrip(".")
