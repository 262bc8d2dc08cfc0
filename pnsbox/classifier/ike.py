"""IKE (IPsec key exchange, RFC 7296 and RFC 2408): the ISAKMP header, on udp/500 or, behind
NAT, on udp/4500 after a 4-byte zero non-ESP marker (RFC 3948). The header's length field
must be the datagram's, the version 1.0 or 2.0, the exchange type one the version defines,
the initiator's SPI non-zero."""

from __future__ import annotations

_EXCHANGES = {0x10: frozenset(range(1, 6)) | {32, 33}, 0x20: frozenset(range(34, 38)) | {43}}


def message(payload: bytes) -> bool:
    if payload[:4] == b"\0\0\0\0":
        payload = payload[4:]
    if len(payload) < 28 or payload[:8] == b"\0" * 8:
        return False
    exchanges = _EXCHANGES.get(payload[17])
    return (exchanges is not None and payload[18] in exchanges
            and int.from_bytes(payload[24:28], "big") == len(payload) and 0 < payload[16] <= 53)
