"""Build packets for the classifier tests: IP/TCP/UDP around a payload, DNS messages,
TLS ClientHellos, and protected QUIC Initial packets (the client side of RFC 9001 §5)."""

from __future__ import annotations

import ipaddress
import struct
from functools import cache

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pnsbox.classifier import quic
from pnsbox.classifier.capture import ndpi_corpus, read

CORPUS = ndpi_corpus()


@cache
def capture(name: str) -> list[bytes]:
    """IP packets of an nDPI corpus capture (../shared beside the repository)."""
    if not (CORPUS / "pcap").is_dir():
        pytest.skip(f"the nDPI corpus is not at {CORPUS}")
    return [packet for _, packet in read(CORPUS / "pcap" / name)]


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def ip(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    s, d = _addr(src), _addr(dst)
    if len(s) == 4:
        return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, s, d) + l4
    return struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, s, d) + l4


def tcp(src: str, sport: int, dst: str, dport: int, payload: bytes = b"", seq: int = 1000,
        flags: int = 0x18) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0)
    return ip(src, dst, 6, header + payload)


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    return ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def dns_message(name: str, answers: list[str] = (), ident: int = 7) -> bytes:
    """A question for `name` (type A); with `answers`, a response carrying them."""
    flags = 0x8180 if answers else 0x0100
    out = struct.pack("!HHHHHH", ident, flags, 1, len(answers), 0, 0) + dns_name(name) + b"\0\1\0\1"
    for answer in answers:
        rdata = _addr(answer)
        kind = 1 if len(rdata) == 4 else 28
        out += b"\xc0\x0c" + struct.pack("!HHIH", kind, 1, 300, len(rdata)) + rdata
    return out


def client_hello(sni: str | None, padding: int = 0) -> bytes:
    """A TLS 1.2-style ClientHello handshake message (type, length, body)."""
    extensions = b""
    if sni is not None:
        name = sni.encode()
        entry = b"\0" + struct.pack("!H", len(name)) + name
        body = struct.pack("!H", len(entry)) + entry
        extensions += struct.pack("!HH", 0, len(body)) + body
    if padding:
        extensions += struct.pack("!HH", 21, padding) + bytes(padding)
    body = (b"\x03\x03" + bytes(32) + b"\0" + b"\0\x02\x13\x01" + b"\x01\0"
            + struct.pack("!H", len(extensions)) + extensions)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def tls_records(message: bytes, record_size: int = 16384) -> bytes:
    out = b""
    for i in range(0, len(message), record_size):
        part = message[i:i + record_size]
        out += b"\x16\x03\x01" + struct.pack("!H", len(part)) + part
    return out


def quic_initial(frames: bytes, dcid: bytes, version: int = 1, pn: int = 0, size: int = 1200) -> bytes:
    """A client Initial packet carrying `frames`, padded and protected."""
    info = quic.VERSIONS[version]
    key, iv, hp = quic.client_keys(info, dcid)
    pn_bytes = pn.to_bytes(4, "big")
    first = 0xC0 | (info.initial_type << 4) | 0x03
    head_wo_length = bytes([first]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + b"\0" + b"\0"
    payload_len = max(size - len(head_wo_length) - 2 - 4 - 16, len(frames))
    plain = frames + bytes(payload_len - len(frames))
    length = 4 + len(plain) + 16
    header = head_wo_length + (0x4000 | length).to_bytes(2, "big") + pn_bytes
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, plain, header)
    pn_at = len(header) - 4
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sealed[:16])
    protected = bytearray(header + sealed)
    protected[0] ^= mask[0] & 0x0F
    for i in range(4):
        protected[pn_at + i] ^= mask[1 + i]
    return bytes(protected)


def crypto_frame(offset: int, data: bytes) -> bytes:
    def varint(value: int) -> bytes:
        return (0x8000_0000 | value).to_bytes(4, "big")

    return b"\x06" + varint(offset) + varint(len(data)) + data
