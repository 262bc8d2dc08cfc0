"""Read the pnsbox table straight over nfnetlink: its comment, its rules' counters, its named
counters.

`nft list ...` fills nft's whole cache first (0.6 s and 4 MB of JSON for a 1,000-OPD table);
a netlink dump of just what is asked is a few milliseconds. The table comment is what lets an
unchanged re-apply finish in well under 100 ms; the counters keep a metrics scrape cheap.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from collections.abc import Iterator

from ..apply.netns import socket_in
from ..render.objects import OPD_CATEGORY_SETS

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_GETTABLE, NFT_MSG_GETRULE, NFT_MSG_GETOBJ = 1, 7, 19
NFPROTO_INET = 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFTA_TABLE_NAME, NFTA_TABLE_USERDATA = 1, 6
NFTA_RULE_TABLE, NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS, NFTA_RULE_USERDATA = 1, 2, 4, 7
NFTA_LIST_ELEM, NFTA_EXPR_NAME, NFTA_EXPR_DATA = 1, 1, 2
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
NFTA_OBJ_TABLE, NFTA_OBJ_NAME, NFTA_OBJ_TYPE, NFTA_OBJ_DATA, NFTA_OBJ_USERDATA = 1, 2, 3, 4, 8
NFT_OBJECT_COUNTER = 1
UDATA_COMMENT = 0  # the comment's type in table, rule and object user data alike


def _attributes(data: bytes) -> dict[int, bytes]:
    out, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def _attribute_list(data: bytes) -> list[bytes]:
    """A nested list (NFTA_LIST_ELEM, NFTA_LIST_ELEM, ...), in order."""
    out, offset = [], 0
    while offset + 4 <= len(data):
        length, _ = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out.append(data[offset + 4:offset + length])
        offset += (length + 3) & ~3
    return out


def _comment(userdata: bytes) -> str | None:
    offset = 0
    while offset + 2 <= len(userdata):
        kind, length = userdata[offset], userdata[offset + 1]
        if kind == UDATA_COMMENT:
            return userdata[offset + 2:offset + 2 + length].rstrip(b"\0").decode(errors="replace")
        offset += 2 + length
    return None


def _string(value: bytes) -> str:
    return value.rstrip(b"\0").decode(errors="replace")


def _attribute(kind: int, value: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(value), kind)
    return header + value + b"\0" * (-len(value) % 4)


def _socket(netns: str | None) -> socket.socket:
    return socket_in(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)


def _dump(netns: str | None, message: int, attributes: bytes = b"",
          sock: socket.socket | None = None) -> Iterator[tuple[int, dict[int, bytes]]]:
    """(family, attributes) of every object a nf_tables dump request returns. `sock`: a socket
    of _socket(netns) to reuse (its caller reads every dump to the end); making one for each of
    a 1,000-OPD table's 1,004 sets cost 0.4 s."""
    if sock is None:
        with _socket(netns) as own:
            yield from _dump(netns, message, attributes, own)
        return
    body = struct.pack("=BBH", NFPROTO_INET, 0, 0) + attributes
    header = struct.pack("=LHHLL", 16 + len(body), (NFNL_SUBSYS_NFTABLES << 8) | message,
                         NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    sock.send(header + body)
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=LH", data, offset)
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, offset + 16)[0]
                if code:
                    raise OSError(-code, "nfnetlink refused the dump")
            else:
                yield data[offset + 16], _attributes(data[offset + 20:offset + length])
            offset += (length + 3) & ~3


def inet_table_comments(netns: str | None) -> dict[str, str | None]:
    """inet table name -> its comment, for every inet table in the namespace."""
    return {_string(attrs[NFTA_TABLE_NAME]): _comment(attrs.get(NFTA_TABLE_USERDATA, b""))
            for family, attrs in _dump(netns, NFT_MSG_GETTABLE)
            if family == NFPROTO_INET and NFTA_TABLE_NAME in attrs}


def _counter(data: bytes) -> tuple[int, int]:
    """(packets, bytes) of a counter's attributes."""
    attrs = _attributes(data)
    return (struct.unpack(">Q", attrs.get(NFTA_COUNTER_PACKETS, b"\0" * 8))[0],
            struct.unpack(">Q", attrs.get(NFTA_COUNTER_BYTES, b"\0" * 8))[0])


def rule_counters(netns: str | None, table: str) -> Iterator[tuple[str, str | None, tuple[int, int] | None]]:
    """(chain, comment, (packets, bytes) of its counter or None) of every rule of the inet table."""
    request = _attribute(NFTA_RULE_TABLE, table.encode() + b"\0")
    for family, attrs in _dump(netns, NFT_MSG_GETRULE, request):
        if family != NFPROTO_INET or _string(attrs.get(NFTA_RULE_TABLE, b"")) != table:
            continue
        counted = None
        for element in _attribute_list(attrs.get(NFTA_RULE_EXPRESSIONS, b"")):
            expression = _attributes(element)
            if _string(expression.get(NFTA_EXPR_NAME, b"")) == "counter":
                packets, count = _counter(expression.get(NFTA_EXPR_DATA, b""))
                counted = (packets, count) if counted is None else (counted[0] + packets, counted[1] + count)
        yield _string(attrs.get(NFTA_RULE_CHAIN, b"")), _comment(attrs.get(NFTA_RULE_USERDATA, b"")), counted


def named_counters(netns: str | None, table: str) -> Iterator[tuple[str, str | None, tuple[int, int]]]:
    """(name, comment, (packets, bytes)) of every named counter of the inet table."""
    request = _attribute(NFTA_OBJ_TABLE, table.encode() + b"\0") + \
        _attribute(NFTA_OBJ_TYPE, struct.pack(">I", NFT_OBJECT_COUNTER))
    for family, attrs in _dump(netns, NFT_MSG_GETOBJ, request):
        if family != NFPROTO_INET or _string(attrs.get(NFTA_OBJ_TABLE, b"")) != table:
            continue
        if struct.unpack(">I", attrs.get(NFTA_OBJ_TYPE, b"\0\0\0\0"))[0] != NFT_OBJECT_COUNTER:
            continue
        yield (_string(attrs.get(NFTA_OBJ_NAME, b"")), _comment(attrs.get(NFTA_OBJ_USERDATA, b"")),
               _counter(attrs.get(NFTA_OBJ_DATA, b"")))


NFT_MSG_GETGEN = 16
NFTA_GEN_ID = 1


def generation(netns: str | None) -> int:
    """The namespace's nf_tables generation: every committed change to any table bumps it,
    counters do not. One round trip; what lets drift checks skip the rule dump."""
    with socket_in(netns, socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
        body = struct.pack("=BBH", 0, 0, 0)
        sock.send(struct.pack("=LHHLL", 16 + len(body), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN,
                              NLM_F_REQUEST, 1, 0) + body)
        data = sock.recv(65536)
    length, kind = struct.unpack_from("=LH", data)
    if kind == NLMSG_ERROR:
        raise OSError(-struct.unpack_from("=i", data, 16)[0], "nfnetlink refused the generation request")
    return struct.unpack(">I", _attributes(data[20:length]).get(NFTA_GEN_ID, b"\0\0\0\0"))[0]


NFT_MSG_GETSET, NFT_MSG_GETSETELEM = 10, 13
NFTA_SET_TABLE, NFTA_SET_NAME = 1, 2
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3


NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_DATA, NFTA_SET_ELEM_USERDATA = 1, 2, 6
NFTA_SET_ELEM_EXPR, NFTA_SET_ELEM_EXPRESSIONS = 7, 10
NFTA_DATA_VALUE = 1


def _one_set(netns: str | None, table: str, name: str) -> Iterator[dict[int, bytes]]:
    request = _attribute(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0") + \
        _attribute(NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0")
    for _, attrs in _dump(netns, NFT_MSG_GETSETELEM, request):
        for element in _attribute_list(attrs.get(NFTA_SET_ELEM_LIST_ELEMENTS, b"")):
            yield _attributes(element)


def _value(attribute: bytes) -> bytes:
    return _attributes(attribute).get(NFTA_DATA_VALUE, b"")


def counted_elements(netns: str | None, table: str, name: str) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """(key as raw bytes, (packets, bytes)) of every element of a set whose elements carry a counter."""
    for element in _one_set(netns, table, name):
        expressions = _attribute_list(element.get(NFTA_SET_ELEM_EXPRESSIONS, b""))
        if NFTA_SET_ELEM_EXPR in element:
            expressions.append(element[NFTA_SET_ELEM_EXPR])
        for expression in map(_attributes, expressions):
            if _string(expression.get(NFTA_EXPR_NAME, b"")) == "counter":
                yield _value(element.get(NFTA_SET_ELEM_KEY, b"")), _counter(expression.get(NFTA_EXPR_DATA, b""))


def map_data_comments(netns: str | None, table: str, name: str) -> Iterator[tuple[bytes, str | None]]:
    """(data as raw bytes, element comment) of every element of a map."""
    for element in _one_set(netns, table, name):
        yield _value(element.get(NFTA_SET_ELEM_DATA, b"")), _comment(element.get(NFTA_SET_ELEM_USERDATA, b""))


def _set_elements(netns: str | None, table: str, skip: frozenset[str] = frozenset()
                  ) -> Iterator[tuple[str, list[bytes]]]:
    """(set name, its elements as raw attributes, sorted) for every set and map of the table
    but those in `skip`."""
    request = _attribute(NFTA_SET_TABLE, table.encode() + b"\0")
    with _socket(netns) as sock:
        names = sorted(_string(attrs[NFTA_SET_NAME]) for family, attrs in _dump(netns, NFT_MSG_GETSET, request, sock)
                       if family == NFPROTO_INET and _string(attrs.get(NFTA_SET_TABLE, b"")) == table
                       and NFTA_SET_NAME in attrs and _string(attrs[NFTA_SET_NAME]) not in skip)
        for name in names:
            request = _attribute(NFTA_SET_ELEM_LIST_TABLE, table.encode() + b"\0") + \
                _attribute(NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0")
            elements = [element for _, attrs in _dump(netns, NFT_MSG_GETSETELEM, request, sock)
                        for element in _attribute_list(attrs.get(NFTA_SET_ELEM_LIST_ELEMENTS, b""))]
            yield name, sorted(elements)


DYNAMIC_SETS = frozenset(OPD_CATEGORY_SETS.values())


def table_fingerprint(netns: str | None, table: str, dynamic: frozenset[str] = DYNAMIC_SETS) -> str:
    """A digest of the inet table's rules (chain, expressions, comment; counters' values left
    out) and of every set's and map's elements: it changes when someone adds, deletes or
    replaces a rule or an element, not with traffic (the `dynamic` sets, which traffic fills,
    are left out)."""
    digest = hashlib.sha256()
    for name, elements in _set_elements(netns, table, dynamic):
        digest.update(name.encode() + b"\0" + b"".join(elements) + b"\n")
    request = _attribute(NFTA_RULE_TABLE, table.encode() + b"\0")
    for family, attrs in _dump(netns, NFT_MSG_GETRULE, request):
        if family != NFPROTO_INET or _string(attrs.get(NFTA_RULE_TABLE, b"")) != table:
            continue
        digest.update(attrs.get(NFTA_RULE_CHAIN, b"") + b"\0" + attrs.get(NFTA_RULE_USERDATA, b"") + b"\0")
        for element in _attribute_list(attrs.get(NFTA_RULE_EXPRESSIONS, b"")):
            expression = _attributes(element)
            name = expression.get(NFTA_EXPR_NAME, b"")
            digest.update(name if _string(name) == "counter" else element)
        digest.update(b"\n")
    return digest.hexdigest()
