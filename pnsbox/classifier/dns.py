"""DNS messages: the question's name and, in answers, the addresses it resolved to."""

from __future__ import annotations

from struct import Struct
from typing import NamedTuple

from .wire import text

_HEADER = Struct("!HHHHHH")
_ANSWER = Struct("!HHIH")  # type, class, ttl, rdlength
_TYPE_A, _TYPE_AAAA = 1, 28
_MAX_JUMPS = 16   # compression pointers followed for one name; more is a loop
_MAX_ANSWERS = 64


class Message(NamedTuple):
    name: str                               # the first question's name ("" if none)
    response: bool
    addresses: list[tuple[bytes, int]]      # (4- or 16-byte address, ttl) from A/AAAA answers


def parse(msg, mdns: bool = False) -> Message | None:
    """One DNS message (UDP payload; for TCP strip the 2-byte length first), or None if it
    is not one. Answers cut short (a truncated capture, a first fragment) are skipped."""
    if len(msg) < 12:
        return None
    _, flags, questions, answers, _, _ = _HEADER.unpack_from(msg, 0)
    response = bool(flags & 0x8000)
    opcode = (flags >> 11) & 0x0F
    if opcode > 5 or questions > (64 if mdns else 1) or (questions == 0 and not (mdns and response)):
        return None
    pos = 12
    name = ""
    for i in range(questions):
        label, pos = read_name(msg, pos)
        if label is None or pos + 4 > len(msg):
            return None
        if i == 0:
            name = label
        pos += 4
    addresses: list[tuple[bytes, int]] = []
    if response:
        for _ in range(min(answers, _MAX_ANSWERS)):
            if name:  # the addresses are the question's: an owner name is only stepped over
                pos = skip_name(msg, pos)
            else:  # mDNS announcements carry answers only: the first owner names them
                owner, pos = read_name(msg, pos)
                if owner is None:
                    break
                name = owner
            if pos < 0 or pos + 10 > len(msg):
                break
            kind, _, ttl, length = _ANSWER.unpack_from(msg, pos)
            pos += 10
            if pos + length > len(msg):
                break
            if (kind == _TYPE_A and length == 4) or (kind == _TYPE_AAAA and length == 16):
                addresses.append((bytes(msg[pos:pos + length]), ttl))
            pos += length
    return Message(name, response, addresses)


def skip_name(msg, pos: int) -> int:
    """The position after the domain name at `pos`, -1 if malformed. Answers name their
    owner with a pointer back to the question (RFC 1035 §4.1.4) nearly always: two bytes,
    nothing to decode (a rich answer has a dozen names; decoding each cost more than the rest
    of the message)."""
    size = len(msg)
    start = pos
    while pos < size:
        length = msg[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:  # a pointer ends the name; it must point back at an earlier name
            if pos + 1 >= size or ((length & 0x3F) << 8 | msg[pos + 1]) >= start:
                return -1
            return pos + 2
        if length > 63 or pos - start + length + 1 > 255:
            return -1
        pos += 1 + length
    return -1


def read_name(msg, pos: int) -> tuple[str | None, int]:
    """The domain name at `pos` -> (name, position after it); (None, pos) if malformed."""
    labels = []
    after = -1
    jumps = 0
    total = 0
    size = len(msg)
    while True:
        if pos >= size:
            return None, pos
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        if length >= 0xC0:  # compression pointer
            if pos + 1 >= size or jumps >= _MAX_JUMPS:
                return None, pos
            if after < 0:
                after = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            continue
        if length > 63 or pos + 1 + length > size:
            return None, pos
        total += length + 1
        if total > 255:
            return None, pos
        labels.append(msg[pos + 1:pos + 1 + length])
        pos += 1 + length
    return text(b".".join(labels)), (after if after >= 0 else pos)
