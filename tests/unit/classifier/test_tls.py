from craft import capture, client_hello, tcp, tls_records

from pnsbox.classifier import Engine, tls
from pnsbox.classifier.packet import TCP, parse
from pnsbox.classifier.wire import MORE


def real_hello(name: str) -> tuple[bytes, bytes]:
    """(the IP packet, its TCP payload) of the first ClientHello in a capture."""
    for packet in capture(name):
        p = parse(packet)
        if p and p.proto == TCP and p.end - p.start > 5 and packet[p.start] == 0x16 \
                and packet[p.start + 5] == 1:
            return packet, packet[p.start:p.end]
    raise AssertionError(f"no ClientHello in {name}")


def test_sni_of_a_real_client_hello():
    _, hello = real_hello("facebook.pcap")
    assert tls.record_sni(hello) == "facebook.com"


def test_every_prefix_of_a_hello_asks_for_more():
    _, hello = real_hello("facebook.pcap")
    for cut in (1, 3, 5, 8, 9, 50, len(hello) - 1):
        assert tls.record_sni(hello[:cut]) is MORE


def test_hello_over_several_records():
    records = tls_records(client_hello("sipd.kemendagri.go.id", padding=600), record_size=100)
    assert tls.record_sni(records) == "sipd.kemendagri.go.id"
    assert tls.record_sni(records[:250]) is MORE


def test_no_name_and_not_tls():
    assert tls.record_sni(tls_records(client_hello(None))) == ""
    assert tls.record_sni(b"\x16\x03\x03\x00\x04\x02\x00\x00\x00") == ""  # ServerHello
    assert tls.record_sni(b"\x17\x03\x03\x00\x10" + bytes(16)) == ""       # application data
    assert tls.record_sni(b"GET / HTTP/1.1\r\n") is None
    assert tls.record_sni(b"\x16\x02") is None


def test_engine_reassembles_a_hello_spanning_segments_out_of_order():
    hello = tls_records(client_hello("sakti.kemenkeu.go.id", padding=3000))
    parts = [hello[:1000], hello[1000:2000], hello[2000:]]
    client, server = "10.20.0.5", "203.0.113.9"
    engine = Engine()
    assert engine.packet(tcp(client, 50000, server, 443, flags=0x02, seq=999)) is None
    assert engine.packet(tcp(client, 50000, server, 443, parts[0], seq=1000)) is None
    # the third segment arrives early and is dropped; the second is retransmitted with overlap
    assert engine.packet(tcp(client, 50000, server, 443, parts[2], seq=3000)) is None
    assert engine.packet(tcp(client, 50000, server, 443, parts[0][-10:] + parts[1], seq=1990)) is None
    verdict = engine.packet(tcp(client, 50000, server, 443, parts[2], seq=3000))
    assert (verdict.app, verdict.category, verdict.confidence, verdict.name, verdict.protocol) == \
        ("sakti", "e-government", "inspected", "sakti.kemenkeu.go.id", "tls")


def test_engine_splits_a_real_hello_at_every_tenth_byte():
    packet, hello = real_hello("facebook.pcap")
    p = parse(packet)
    engine = Engine(inspect_limit=100)  # 10-byte segments: far more packets than usual
    seq = p.seq
    verdict = None
    for i in range(0, len(hello), 10):
        piece = tcp("192.0.2.1", p.sport, "192.0.2.2", p.dport, hello[i:i + 10], seq=seq + i)
        verdict = engine.packet(piece)
        if verdict:
            break
    assert verdict.name == "facebook.com" and verdict.app == "facebook"
