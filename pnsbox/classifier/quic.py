"""QUIC: the SNI in a client's Initial packets.

IETF QUIC (v1 RFC 9000/9001, v2 RFC 9369, drafts 27-29 and Facebook's mvfst) encrypts its
Initial packets with keys anyone can derive from the client's first Destination Connection
ID, so a middlebox can read the ClientHello: remove header protection, decrypt with AES-GCM,
then reassemble the CRYPTO frames (a ClientHello may be cut into pieces, out of order, over
several Initial packets). Google QUIC (Q039-Q046) sends its CHLO in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from struct import Struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import tls
from .wire import MORE, text, varint

_U32 = Struct("!I")
_LE_TAG = Struct("<4sI")
_MAX_CRYPTO = 1 << 16   # bytes of ClientHello we are willing to collect
_MAX_PIECES = 64
_ECB = modes.ECB()


def _public_ecb(key: bytes):
    return Cipher(algorithms.AES(key), _ECB).encryptor()


def _header_protection_context():
    """A maker of AES-ECB contexts for header protection. `Cipher(...).encryptor()` checks its
    arguments against abstract classes, a good part of a new flow's cost; cryptography's own
    constructor behind it skips that. It is not public API, so it is used only if it is there
    and gives FIPS-197's AES-128 answer; else the public path."""
    try:
        # (the package, then its attributes: `openssl` is no importable submodule, and mypyc's
        # `from ... import` looks submodules up in sys.modules)
        from cryptography.hazmat.bindings import _rust

        create = _rust.openssl.ciphers.create_encryption_ctx
        aes = algorithms.AES
        new = object.__new__

        def direct(key: bytes):
            # the key is always one of ours (16 bytes, client_keys): AES's own checks of it,
            # in Python, are skipped too; the constructor reads only the key
            algorithm = new(aes)
            algorithm.key = key
            return create(algorithm, _ECB)

        known = direct(bytes(range(16))).update(bytes.fromhex("00112233445566778899aabbccddeeff"))
        if known == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a"):
            return direct
    except Exception:  # any other cryptography: the public path
        pass
    return _public_ecb


_new_ecb = _header_protection_context()


_sha256 = hashlib.sha256
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _pads(key: bytes):
    """SHA-256 states after the HMAC inner and outer pads of `key` (RFC 2104): an HMAC with
    this key is then two state copies and two small updates, no key setup."""
    block = key.ljust(64, b"\0")
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


@dataclass(frozen=True)
class Version:
    name: str
    salt: bytes
    initial_type: int        # long-header packet type of Initial packets
    labels: tuple[bytes, bytes, bytes] = (b"quic key", b"quic iv", b"quic hp")
    # HMAC-SHA256 keyed with the salt, its pads already hashed: per flow only the DCID is
    # hashed (the salt is the same for every connection of a version)
    _salted: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_salted", _pads(self.salt))


_DRAFT_23_SALT = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
VERSIONS = {
    0x00000001: Version("v1", bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), 0),
    0x6B3343CF: Version("v2", bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), 1,
                        (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")),
    0xFF00001D: Version("draft-29", bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"), 0),
    0xFF00001C: Version("draft-28", _DRAFT_23_SALT, 0),
    0xFF00001B: Version("draft-27", _DRAFT_23_SALT, 0),
    0xFACEB002: Version("mvfst-27", _DRAFT_23_SALT, 0),
}


def expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3 HKDF-Expand-Label with an empty context, for outputs of one SHA-256 block."""
    return hmac.digest(secret, _info(label, length), "sha256")[:length]


def _info(label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    return length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00\x01"


_CLIENT_IN = _info(b"client in", 32)
_KEY_INFOS = {labels: (_info(labels[0], 16), _info(labels[1], 12), _info(labels[2], 16))
              for labels in ((b"quic key", b"quic iv", b"quic hp"), (b"quicv2 key", b"quicv2 iv", b"quicv2 hp"))}


def client_keys(version: Version, dcid: bytes) -> tuple[bytes, bytes, bytes]:
    """(key, iv, hp) protecting the client's Initial packets (RFC 9001 §5.2): HKDF-Extract
    with the version's salt, then HKDF-Expand-Label, each one HMAC-SHA256 block. Written out
    as SHA-256 calls (HMAC(K, m) = H(K^opad || H(K^ipad || m))): a new flow's key schedule is
    a good part of its cost, and `hmac` would set up each key anew."""
    inner, outer = version._salted[0].copy(), version._salted[1].copy()
    inner.update(dcid)
    outer.update(inner.digest())
    initial = outer.digest().ljust(64, b"\0")  # the initial secret, as an HMAC key block
    client = _sha256(initial.translate(_OPAD) + _sha256(initial.translate(_IPAD) + _CLIENT_IN).digest()).digest()
    block = client.ljust(64, b"\0")  # the client's initial secret keys three expansions
    inner, outer = _sha256(block.translate(_IPAD)), _sha256(block.translate(_OPAD))
    key_info, iv_info, hp_info = _KEY_INFOS[version.labels]
    a, b = inner.copy(), outer.copy()
    a.update(key_info)
    b.update(a.digest())
    key = b.digest()[:16]
    a, b = inner.copy(), outer.copy()
    a.update(iv_info)
    b.update(a.digest())
    iv = b.digest()[:12]
    inner.update(hp_info)
    outer.update(inner.digest())
    return key, iv, outer.digest()[:16]


class ClientInitials:
    """One connection's client Initial packets, fed one UDP datagram at a time.

    The hot path of a flood of new QUIC flows (every flow's first packet is an Initial to
    decrypt), so it is written for few Python operations: the datagram is made bytes once,
    the header read inline, each key's cipher context made once per connection, padding and
    PINGs skipped as runs at C speed."""

    __slots__ = ("version", "_aead", "_iv", "_hp", "_pieces")

    def __init__(self) -> None:
        self.version: Version | None = None
        self._aead: Any = None   # AESGCM, made with the first Initial's keys
        self._iv = 0
        self._hp: Any = None     # the header-protection AES-ECB context
        self._pieces: dict[int, bytes] = {}

    def feed(self, datagram):
        """The SNI once the ClientHello is complete; MORE while pieces are missing; "" for
        QUIC that gives no name (other versions, short headers, no SNI); None if not QUIC."""
        size = len(datagram)
        if size < 7:
            return None
        first = datagram[0]
        if not first & 0x80:
            # Google QUIC before Q046: public flags with "version present" and an 8-byte CID
            if first & 0x09 == 0x09 and size > 13 and datagram[9] == 0x51:  # 'Q'
                return gquic_sni(datagram)
            return "" if self.version else None
        number = _U32.unpack_from(datagram, 1)[0]
        if number >> 24 == 0x51:  # 'Q046' and friends: Google QUIC with a long header
            return gquic_sni(datagram)
        version = VERSIONS.get(number)
        if version is None or not first & 0x40:
            return None  # unknown versions stay unclaimed: RTP, for one, also sets the top bit
        data = datagram if type(datagram) is bytes else bytes(datagram)  # slices of bytes are bytes
        pos, result = self._packet(data, 0, version, size)
        while result is MORE and pos < size:  # coalesced packets
            pos, result = self._packet(data, pos, version, size)
        return result

    def _packet(self, data: bytes, pos: int, version: Version, end: int) -> tuple[int, object]:
        """Decrypt the long-header packet at `pos`: (where the next one starts, result)."""
        first = data[pos]
        if pos + 7 > end or not first & 0x80 or _U32.unpack_from(data, pos + 1)[0] not in VERSIONS:
            return end, ""
        dcid_len = data[pos + 5]
        at = pos + 6 + dcid_len
        if dcid_len > 20 or at >= end:
            return end, ""
        at += 1 + data[at]  # source connection id
        initial = (first >> 4) & 3 == version.initial_type
        if initial:
            token_len, at = varint(data, at)
            if token_len < 0:
                return end, ""
            at += token_len
        length, pn_at = varint(data, at)
        next_packet = pn_at + length
        if length < 20 or next_packet > end:  # (a cut-off length is -1)
            return end, ""
        if not initial:
            return next_packet, MORE  # 0-RTT or Handshake coalesced after the Initial
        if self.version is None:
            self.version = version
            key, iv, hp = client_keys(version, data[pos + 6:pos + 6 + dcid_len])
            self._aead = AESGCM(key)
            self._iv = int.from_bytes(iv, "big")
            self._hp = _new_ecb(hp)
        # header protection (RFC 9001 §5.4): one AES block over the sample masks the packet
        # number's length (in the first byte) and the packet number
        mask = self._hp.update(data[pn_at + 4:pn_at + 20])
        first ^= mask[0] & 0x0F
        pn_len = (first & 3) + 1
        pn_end = pn_at + pn_len
        number = int.from_bytes(data[pn_at:pn_end], "big") ^ (int.from_bytes(mask[1:5], "big") >> (32 - 8 * pn_len))
        header = bytes((first,)) + data[pos + 1:pn_at] + number.to_bytes(pn_len, "big")
        try:  # (a memoryview: the ciphertext is not copied)
            plain = self._aead.decrypt((self._iv ^ number).to_bytes(12, "big"),
                                       memoryview(data)[pn_end:next_packet], header)
        except InvalidTag:
            return next_packet, MORE  # not the client's Initial (keys from another DCID), or damaged
        return next_packet, self._crypto_frames(plain)

    def _crypto_frames(self, plain: bytes) -> object:
        pieces = self._pieces
        pos = 0
        size = len(plain)
        while pos < size:
            kind = plain[pos]
            if kind <= 0x01:  # PADDING and PING carry nothing: skip the run
                run_end = pos + 8 if pos + 8 < size else size
                pos += 1
                while pos < run_end and plain[pos] <= 0x01:  # most runs between frames are short
                    pos += 1
                if pos < run_end:
                    continue
                if plain.count(0, pos) == size - pos:  # PADDING to the end, in one C pass
                    break
                rest = plain[pos:].lstrip(b"\x00\x01")  # a long run with more after it
                pos = size - len(rest)
                continue
            pos += 1
            if kind == 0x06:  # CRYPTO
                offset, pos = varint(plain, pos)
                length, pos = varint(plain, pos)
                if offset < 0 or length < 0 or pos + length > size:
                    return ""
                if offset + length <= _MAX_CRYPTO and len(pieces) < _MAX_PIECES:
                    pieces.setdefault(offset, plain[pos:pos + length])
                pos += length
            elif kind == 0x02 or kind == 0x03:  # ACK
                pos = _skip_ack(plain, pos, kind == 0x03)
                if pos < 0:
                    return ""
            else:  # CONNECTION_CLOSE or anything an Initial may not carry: stop here
                break
        return self._hello()

    def _hello(self) -> object:
        pieces = self._pieces
        stream = pieces.get(0)
        if stream is None:
            return MORE
        if len(pieces) > 1 and (len(stream) < 4 or len(stream) < 4 + (stream[1] << 16 | stream[2] << 8 | stream[3])):
            stream = _contiguous(pieces)  # the hello goes on in other pieces
        if len(stream) < 4:
            return MORE
        needed = 4 + ((stream[1] << 16) | (stream[2] << 8) | stream[3])
        if stream[0] != 1 or needed > _MAX_CRYPTO:
            return ""
        if len(stream) < needed:
            return MORE
        return tls.hello_sni(stream, 0, needed)


def recognised(datagram) -> bool:
    """Whether a UDP payload is a QUIC packet of a version we know (either side's)."""
    if len(datagram) < 7:
        return False
    first = datagram[0]
    if first & 0x80:
        number = _U32.unpack_from(datagram, 1)[0]
        return (number in VERSIONS and bool(first & 0x40)) or number >> 24 == 0x51
    return first & 0x09 == 0x09 and len(datagram) > 13 and datagram[9] == 0x51


def _skip_ack(buf: bytes, pos: int, ecn: bool) -> int:
    values = 4  # largest acknowledged, delay, range count, first range
    count = 0
    for i in range(values):
        value, pos = varint(buf, pos)
        if value < 0:
            return -1
        if i == 2:
            count = value
    if count > 256:
        return -1
    for _ in range(2 * count + (3 if ecn else 0)):
        value, pos = varint(buf, pos)
        if value < 0:
            return -1
    return pos


def _contiguous(pieces: dict) -> bytes:
    """The stream from offset 0 as far as the pieces reach without a gap (in offset order,
    each piece adds what reaches past the end so far)."""
    parts = []
    end = 0
    for offset in sorted(pieces):
        if offset > end:
            break
        piece = pieces[offset]
        if offset + len(piece) > end:
            parts.append(piece[end - offset:])
            end = offset + len(piece)
    return b"".join(parts)


def gquic_sni(datagram) -> str:
    """SNI from a Google QUIC CHLO (sent in clear before Q050), "" when there is none."""
    at = bytes(datagram[:1400]).find(b"CHLO")
    if at < 0 or at + 8 > len(datagram):
        return ""
    entries = datagram[at + 4] | (datagram[at + 5] << 8)
    values = at + 8 + 8 * entries
    if entries > 128 or values > len(datagram):
        return ""
    start = 0
    for i in range(entries):
        tag, end = _LE_TAG.unpack_from(datagram, at + 8 + 8 * i)
        if tag == b"SNI\x00":
            if start > end or values + end > len(datagram):
                return ""
            return text(datagram[values + start:values + end])
        start = end
    return ""
