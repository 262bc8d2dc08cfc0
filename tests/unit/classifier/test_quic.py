import pytest
from craft import capture, client_hello, crypto_frame, quic_initial

from pnsbox.classifier import quic
from pnsbox.classifier.packet import UDP, parse
from pnsbox.classifier.wire import MORE

RFC_DCID = bytes.fromhex("8394c8f03e515708")
# RFC 9001 Appendix A.2: the client's CRYPTO frame, then its protected packet as published
RFC_A2_FRAME = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff")
RFC_A2_PROTECTED_START = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11")


def test_rfc9001_a1_client_keys():
    key, iv, hp = quic.client_keys(quic.VERSIONS[1], RFC_DCID)
    assert key.hex() == "1f369613dd76d5467730efcbe3b1a22d"
    assert iv.hex() == "fa044b2f42a3fd3b46fb255c"
    assert hp.hex() == "9f50449e04a0e810283a1e9933adedd2"


def test_rfc9369_a1_client_keys():
    key, iv, hp = quic.client_keys(quic.VERSIONS[0x6B3343CF], RFC_DCID)
    assert key.hex() == "8b1a0bc121284290a29e0971b5cd045d"
    assert iv.hex() == "91f73e2351d8fa91660e909f"
    assert hp.hex() == "45b95e15235d6f45a6b19cbcb0294ba9"


def rfc_a2_packet() -> bytes:
    """RFC 9001 A.2 rebuilt: header c300000001088394c8f03e5157080000449e00000002, payload
    the CRYPTO frame padded to 1162 bytes, packet number 2."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, iv, hp = quic.client_keys(quic.VERSIONS[1], RFC_DCID)
    header = bytes.fromhex("c300000001088394c8f03e5157080000449e00000002")
    payload = RFC_A2_FRAME + bytes(1162 - len(RFC_A2_FRAME))
    nonce = (int.from_bytes(iv, "big") ^ 2).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, payload, header)
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sealed[:16])
    packet = bytearray(header + sealed)
    packet[0] ^= mask[0] & 0x0F
    for i in range(4):
        packet[18 + i] ^= mask[1 + i]
    return bytes(packet)


def test_rfc9001_a2_client_initial_decrypts_to_its_sni():
    packet = rfc_a2_packet()
    assert len(packet) == 1200
    assert packet.startswith(RFC_A2_PROTECTED_START)  # the bytes the RFC publishes
    assert quic.ClientInitials().feed(packet) == "example.com"


@pytest.mark.parametrize("name, version, sni", [
    ("google_meet.pcapng", "v1", "meet.google.com"),
    ("quic-v2.pcapng", "v2", "test"),
    ("quic-29.pcap", "draft-29", "localhost"),
    ("quic-mvfst-27.pcapng", "mvfst-27", "graph.facebook.com"),
    ("quic_0RTT.pcap", "v1", "ssl.gstatic.com"),
])
def test_ietf_quic_captures(name, version, sni):
    initials = {}
    found = {}
    for packet in capture(name):
        p = parse(packet)
        if not p or p.proto != UDP or p.dport not in (443, 4443):
            continue
        key = (p.src, p.sport)
        state = initials.setdefault(key, quic.ClientInitials())
        result = state.feed(packet[p.start:p.end])
        if isinstance(result, str) and result and key not in found:
            found[key] = (state.version.name, result)
    assert (version, sni) in found.values()


@pytest.mark.parametrize("name, sni", [("quic_q46.pcap", "play.google.com"),
                                       ("quic_q39.pcap", "s.youtube.com")])
def test_google_quic_chlo(name, sni):
    names = set()
    for packet in capture(name):
        p = parse(packet)
        if p and p.proto == UDP:
            names.add(quic.ClientInitials().feed(packet[p.start:p.end]))
    assert sni in names


def test_crypto_frames_out_of_order_over_two_initials():
    hello = client_hello("srikandi.arsip.go.id", padding=1500)
    dcid = bytes(range(8))
    first = quic_initial(crypto_frame(1000, hello[1000:]) + b"\x01", dcid, pn=0, size=1400)
    second = quic_initial(crypto_frame(500, hello[500:1000]) + crypto_frame(0, hello[:500]), dcid, pn=1)
    state = quic.ClientInitials()
    assert state.feed(first) is MORE
    assert state.feed(second) == "srikandi.arsip.go.id"


@pytest.mark.parametrize("gap", [b"\x00", b"\x01\x00\x01", bytes(7), bytes(8), bytes(9), bytes(300),
                                 bytes(40) + b"\x01" + bytes(40), b"\x01" * 20])
def test_padding_and_ping_runs_of_any_length_between_crypto_frames_are_stepped_over(gap):
    """Chrome puts PADDING runs between its CRYPTO frames as well as after them; a run may
    mix in PINGs, and what follows it must still be read. A packet that ends in PINGs after
    its padding is as complete as one that ends in padding."""
    hello = client_hello("sipd.kemendagri.go.id", padding=600)
    assert len(hello) > 600
    dcid = bytes(range(30, 38))
    frames = gap + crypto_frame(300, hello[300:]) + gap + crypto_frame(0, hello[:300]) + gap
    assert quic.ClientInitials().feed(quic_initial(frames, dcid)) == "sipd.kemendagri.go.id"
    tail = quic_initial(frames + bytes(200) + b"\x01\x01", dcid, size=len(frames) + 202 + 60)
    assert quic.ClientInitials().feed(tail) == "sipd.kemendagri.go.id"
    cut = quic_initial(gap + crypto_frame(0, hello[:300]) + gap, dcid)  # the rest never came
    assert quic.ClientInitials().feed(cut) is MORE


def test_v2_initial_is_read_and_damaged_packets_are_not():
    dcid = bytes(range(10, 18))
    packet = quic_initial(crypto_frame(0, client_hello("vidio.com")), dcid, version=0x6B3343CF)
    assert quic.ClientInitials().feed(packet) == "vidio.com"
    damaged = bytearray(packet)
    damaged[-5] ^= 1
    assert quic.ClientInitials().feed(bytes(damaged)) is MORE  # fails authentication: wait
    assert quic.ClientInitials().feed(b"\x80" + bytes(30)) is None  # RTP-like, unknown version
    assert quic.ClientInitials().feed(b"\x40" + bytes(30)) is None  # short header, no state


def test_the_header_protection_mask_is_the_public_aes_ecb_answer_for_any_key():
    """quic picks cryptography's context constructor directly when it is there (see
    _header_protection_context); it must give what the public Cipher API gives."""
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    for _ in range(20):
        key, sample = os.urandom(16), os.urandom(16)
        assert quic._new_ecb(key).update(sample) == Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(sample)
    assert quic._public_ecb(bytes(range(16))).update(bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == \
        "69c4e0d86a7b0430d8cdb78070b4c55a"  # FIPS-197 C.1: the public path the module falls back to
