from craft import capture, tcp, udp

from pnsbox.classifier.packet import TCP, UDP, parse


def test_ipv4_tcp_headers_and_payload():
    packet = tcp("10.0.0.1", 40000, "10.0.0.2", 443, b"hello", seq=77, flags=0x18)
    p = parse(packet)
    assert (p.proto, p.sport, p.dport, p.seq, p.tcp_flags) == (TCP, 40000, 443, 77, 0x18)
    assert p.src == bytes([10, 0, 0, 1]) and p.dst == bytes([10, 0, 0, 2])
    assert packet[p.start:p.end] == b"hello"


def test_link_padding_is_trimmed_by_ip_total_length():
    packet = udp("10.0.0.1", 5000, "10.0.0.2", 53, b"abc") + bytes(20)
    p = parse(packet)
    assert packet[p.start:p.end] == b"abc"


def test_ipv6_udp_after_an_extension_header():
    inner = udp("2001:db8::1", 1234, "2001:db8::2", 443, b"xyz")
    # put a hop-by-hop header (8 bytes) in front of the UDP header
    header = bytearray(inner[:40])
    header[6] = 0
    header[4:6] = (len(inner) - 40 + 8).to_bytes(2, "big")
    packet = bytes(header) + bytes([17, 0]) + bytes(6) + inner[40:]
    p = parse(packet)
    assert (p.proto, p.sport, p.dport) == (UDP, 1234, 443)
    assert packet[p.start:p.end] == b"xyz"


def test_non_first_fragment_and_short_packets_are_not_keyed():
    packet = bytearray(udp("10.0.0.1", 1, "10.0.0.2", 2, b"x" * 30))
    packet[6:8] = (0x2000 | 10).to_bytes(2, "big")  # MF, offset 80 bytes
    assert parse(bytes(packet)) is None
    assert parse(b"\x45" + bytes(10)) is None
    assert parse(bytes(40)) is None  # IP version 0


def test_every_packet_of_the_corpus_parses_or_is_skipped():
    for name in ("sites.pcapng", "rdp.pcap", "quic-v2.pcapng", "ip_fragmented_garbage.pcap"):
        for packet in capture(name):
            parse(packet)
    assert any(parse(p).src.__len__() == 16 for p in capture("sites.pcapng") if parse(p))
