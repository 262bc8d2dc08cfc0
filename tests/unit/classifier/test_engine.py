"""The engine end to end: captures classify as expected, fallbacks in order, bounded state."""

import pytest
from craft import capture, client_hello, dns_message, tcp, tls_records, udp

from pnsbox.classifier import Engine
from pnsbox.classifier.flows import flow_key
from pnsbox.classifier.packet import parse


def replay(*names: str, **options) -> tuple[Engine, dict]:
    engine = Engine(**options)
    for name in names:
        for packet in capture(name):
            engine.packet(packet)
    engine.conclude()
    return engine, {key: flow.verdict for key, flow in engine.flows.items()}


def verdicts_by(verdicts, field="app"):
    return sorted({(getattr(v, field), v.name) for v in verdicts.values()})


def test_known_captures_classify_as_expected():
    _, verdicts = replay("google_meet.pcapng")
    assert {(v.app, v.protocol, v.name) for v in verdicts.values()} == {
        ("google-meet", "quic", "meet.google.com"), ("google-meet", "tls", "meet.google.com")}
    _, verdicts = replay("facebook.pcap")
    assert {(v.app, v.category, v.confidence) for v in verdicts.values()} == {
        ("facebook", "social", "inspected")}
    _, verdicts = replay("ssh.pcap")
    assert {v.app for v in verdicts.values()} == {"ssh"}
    _, verdicts = replay("windowsupdate_over_http.pcap")
    assert [(v.protocol, v.name) for v in verdicts.values()] == [("http", "151.99.72.125")]
    _, verdicts = replay("teams.pcap")
    apps = {v.app for v in verdicts.values() if v.protocol == "tls"}
    assert {"teams", "microsoft", "microsoft-365"} <= apps
    _, verdicts = replay("snmp.pcap")
    assert {(v.app, v.confidence) for v in verdicts.values()} == {("snmp", "port")}


def test_dns_answers_name_later_flows():
    engine = Engine()
    client, resolver, server = "10.30.0.7", "10.0.0.53", "198.51.100.80"
    assert engine.packet(udp(client, 40000, resolver, 53, dns_message("vidio.com")), 1.0) is None
    verdict = engine.packet(udp(resolver, 53, client, 40000, dns_message("vidio.com", [server])), 1.1)
    assert (verdict.app, verdict.protocol, verdict.name) == ("dns", "dns", "vidio.com")
    # a TLS flow without SNI to that address: named by what DNS said
    engine.packet(tcp(client, 50000, server, 443, flags=0x02), 2.0)
    verdict = engine.packet(tcp(client, 50000, server, 443, b"\x17\x03\x03\x00\x01x"), 2.1)
    assert (verdict.app, verdict.confidence, verdict.protocol, verdict.name) == \
        ("vidio", "dns", "tls", "vidio.com")
    # a flow the parsers do not know, to the same address
    verdict = engine.packet(udp(client, 40001, server, 9999, b"\x01\x02garbage"), 4.0)
    assert (verdict.app, verdict.confidence, verdict.name) == ("vidio", "dns", "vidio.com")
    # and after the answer's lifetime the name is forgotten
    verdict = engine.packet(udp(client, 40002, server, 9999, b"\x01\x02garbage"), 10_000.0)
    assert (verdict.app, verdict.confidence) == ("unknown", "none")


def test_a_resolver_asking_twice_on_one_socket_waits_for_both_answers():
    engine = Engine()
    a, b = "10.0.0.2", "10.0.0.53"
    assert engine.packet(udp(a, 1000, b, 53, dns_message("x.go.id", ident=1))) is None
    assert engine.packet(udp(a, 1000, b, 53, dns_message("x.go.id", ident=2))) is None
    assert engine.packet(udp(b, 53, a, 1000, dns_message("x.go.id", ["192.0.2.1"], ident=1))) is None
    verdict = engine.packet(udp(b, 53, a, 1000, dns_message("x.go.id", ["2001:db8::1"], ident=2)))
    assert verdict.app == "dns" and len(engine.names) == 2


def test_fallback_order():
    engine = Engine()
    client = "10.40.0.9"
    # a service port wins over the address range of its operator
    assert engine.packet(udp(client, 1234, "142.250.1.1", 123, b"\x23" + bytes(47))).app == "ntp"
    # an address range, then a carrier protocol's port
    assert engine.packet(udp(client, 1235, "157.240.1.1", 3478, b"\x00\x01" + bytes(18))).app == "facebook"
    verdict = engine.packet(tcp(client, 1236, "192.0.2.10", 443, b"\x00junk"))
    assert (verdict.app, verdict.confidence) == ("tls", "port")
    # TLS on a service's own port names the service
    hello = tls_records(client_hello(None))
    assert engine.packet(tcp(client, 1237, "192.0.2.11", 993, hello)).app == "imap"
    # an unknown name on TLS to nowhere known is just TLS, inspected
    verdict = engine.packet(tcp(client, 1238, "192.0.2.12", 443, tls_records(client_hello("a.example"))))
    assert (verdict.app, verdict.confidence, verdict.name) == ("tls", "inspected", "a.example")
    # IP protocols without ports
    icmp = bytes.fromhex("4500001c00010000400100000a0000010a000002") + b"\x08\0\0\0\0\0\0\0"
    assert engine.packet(icmp).app == "icmp"


def test_decided_flows_answer_with_the_same_verdict():
    engine = Engine()
    packet = tcp("10.0.0.1", 999, "192.0.2.1", 443, tls_records(client_hello("zoom.us")))
    first = engine.packet(packet)
    assert first.app == "zoom"
    reply = tcp("192.0.2.1", 443, "10.0.0.1", 999, b"\x16\x03\x03\x00\x01\x02")
    assert engine.packet(reply) is first and engine.packet(packet) is first


def test_inspection_gives_up_after_the_limit():
    engine = Engine(inspect_limit=3)
    syn = tcp("10.0.0.1", 5555, "192.0.2.1", 8443, flags=0x02)
    assert engine.packet(syn) is None and engine.packet(syn) is None
    assert engine.packet(syn).app == "tls"


def test_the_flow_table_is_bounded_under_a_flood():
    engine = Engine(max_flows=1000)
    for i in range(20000):
        engine.packet(tcp(f"10.{i >> 8 & 255}.{i & 255}.1", 1024 + i % 60000, "192.0.2.1", 80, flags=0x02))
    assert len(engine.flows) == 1000
    assert engine.flows.evicted == 19000 and engine.stats.flows == 20000
    # the most recent flows are the ones kept
    last = tcp("10.78.31.1", 1024 + 19999 % 60000, "192.0.2.1", 80, flags=0x02)
    key = flow_key(6, *parse(last)[1:5])
    assert key in dict(engine.flows.items())


def test_the_whole_corpus_replays_without_errors():
    engine = Engine()
    from craft import CORPUS
    if not (CORPUS / "pcap").is_dir():
        pytest.skip(f"the nDPI corpus is not at {CORPUS}")
    for path in sorted((CORPUS / "pcap").iterdir()):
        for packet in capture(path.name):
            engine.packet(packet)
    assert engine.stats.errors == 0
