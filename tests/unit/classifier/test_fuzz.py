"""Property-based fuzzing: malformed, truncated and random input never raises out of any
parser or out of the engine. Examples are limited to keep the suite fast."""

from craft import (
    CORPUS,
    capture,
    client_hello,
    crypto_frame,
    dns_message,
    quic_initial,
    tcp,
    tls_records,
    udp,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnsbox.classifier import Engine, dns, http, quic, ssh, tls
from pnsbox.classifier.packet import parse

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SEEDS = [
    dns_message("srikandi.arsip.go.id", ["192.0.2.1", "2001:db8::1"]),
    tls_records(client_hello("www.vidio.com", padding=40)),
    b"GET /index.html HTTP/1.1\r\nHost: lpse.jatimprov.go.id:8080\r\nAccept: */*\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
    quic_initial(crypto_frame(0, client_hello("meet.google.com")), bytes(8)),
]


@st.composite
def mutated(draw, seeds=SEEDS):
    """A seed message cut short, with bytes flipped, or with random bytes spliced in."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


payloads = st.one_of(st.binary(max_size=600), mutated())


@FAST
@given(payloads)
def test_dns_never_raises(data):
    dns.parse(data)
    dns.parse(data, mdns=True)
    dns.read_name(data, 0)


@FAST
@given(payloads)
def test_http_ssh_tls_never_raise(data):
    http.request_host(data)
    ssh.banner(data)
    tls.record_sni(data)
    tls.hello_sni(data, 0, len(data))
    tls.record_sni(bytearray(data))


@SOME
@given(st.lists(payloads, min_size=1, max_size=3))
def test_quic_never_raises(datagrams):
    state = quic.ClientInitials()
    for datagram in datagrams:
        state.feed(datagram)
        quic.recognised(datagram)
        quic.gquic_sni(datagram)


@st.composite
def ip_packets(draw):
    kind = draw(st.sampled_from(["tcp", "udp", "raw", "real"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "real":
        packet = bytearray(draw(st.sampled_from(REAL)))
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(packet) - 1))
            packet[at] = draw(st.integers(0, 255))
        return bytes(packet[:draw(st.integers(0, len(packet)))])
    sport, dport = draw(st.sampled_from([53, 80, 443, 22, 5353, 12345])), draw(st.integers(1, 65535))
    if draw(st.booleans()):
        sport, dport = dport, sport
    payload = draw(payloads)
    if kind == "tcp":
        return tcp("10.0.0.1", sport, "10.0.0.2", dport, payload, seq=draw(st.integers(0, 2**32 - 1)),
                   flags=draw(st.integers(0, 255)))
    return udp("2001:db8::1", sport, "2001:db8::2", dport, payload)


def _real_packets() -> list[bytes]:
    if not (CORPUS / "pcap").is_dir():
        return [tcp("10.0.0.1", 1, "10.0.0.2", 443, SEEDS[1])]
    return [p for name in ("google_meet.pcapng", "dns.pcap", "http.pcapng", "facebook.pcap")
            for p in capture(name)[:12]]


REAL = _real_packets()


@FAST
@given(st.binary(max_size=100))
def test_header_parser_never_raises(data):
    parse(data)


@SOME
@given(st.lists(ip_packets(), min_size=1, max_size=20))
def test_engine_never_raises(packets):
    engine = Engine(max_flows=8, inspect_limit=4)
    for now, packet in enumerate(packets):
        engine.packet(packet, float(now))
    engine.conclude()
    assert engine.stats.errors == 0
    assert len(engine.flows) <= 8


PAYLOAD_SEEDS = [
    b"\x13BitTorrent protocol" + bytes(48),
    b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:t2:aa1:y1:qe",
    bytes.fromhex("4100530210eeb2f00000000000000000e7f50000"),
    b"\x38" + b"\x11" * 8 + b"\xaa" * 20 + b"\0\0\0\x01\x60\0\0\0" + bytes(5),
    b"\x00\x0e\x38" + b"\x11" * 8 + bytes(5),
    b"\x01\0\0\0" + bytes(144),
    b"\x12" * 8 + bytes(8) + bytes([33, 0x20, 34, 0x08]) + bytes(4) + (36).to_bytes(4, "big") + bytes(8),
    bytes.fromhex("000300302112a442b2343f6e67f41d58acba639f000f000472c64bc6803700040000000280080004000000068006000400000000"),
    b"\x80\x08\x6f\xae\0\0\x04\xd8\x37\x96\xcb\x71" + bytes(40),
    b"INVITE sip:a@b SIP/2.0\r\n\r\nc=IN IP4 10.0.0.1\r\nm=audio 30000 RTP/AVP 0\r\n",
    b"227 Entering Passive Mode (10,0,0,1,100,85).\r\n",
    b"229 Entering Extended Passive Mode (|||6446|)\r\nEPRT |2|::1|5282|\r\n",
]
payload_inputs = st.one_of(st.binary(max_size=300), mutated(PAYLOAD_SEEDS))


@FAST
@given(payload_inputs)
def test_payload_recognisers_never_raise(data):
    from pnsbox.classifier import bittorrent, ftp, ike, openvpn, rtp, sip, stun, wireguard
    bittorrent.handshake(data)
    bittorrent.tracker_request(data)
    bittorrent.udp_message(data)
    syn = bittorrent.utp_syn(data)
    bittorrent.utp_answers(data, syn or (0, 0))
    openvpn.reset(data)
    openvpn.tcp_reset(data)
    wireguard.handshake(data)
    ike.message(data)
    types = stun.attributes(data)
    stun.application(types or [])
    stun.tcp_message(data)
    rtp.header(data)
    rtp.media(data)
    sip.message(data)
    sip.media(data)
    ftp.banner(data)
    ftp.data_endpoint(data, bytes(4))


@SOME
@given(st.lists(st.tuples(st.booleans(), payload_inputs), min_size=1, max_size=12))
def test_engine_never_raises_on_payload_protocols(steps):
    engine = Engine(max_flows=8, inspect_limit=6)
    for now, (tcp_side, payload) in enumerate(steps):
        maker = tcp if tcp_side else udp
        packet = (maker("10.0.0.1", 40000, "10.0.0.2", 21, payload) if now % 2 == 0
                  else maker("10.0.0.2", 21, "10.0.0.1", 40000, payload))
        engine.packet(packet, float(now))
    engine.conclude()
    assert engine.stats.errors == 0
    assert len(engine.flows) <= 8
    assert len(engine.expected) <= engine.expected.max_entries


def test_a_flood_of_new_flows_keeps_every_table_bounded():
    engine = Engine(max_flows=1000)
    engine.expected.max_entries = 500
    teams = bytes.fromhex("000300302112a442b2343f6e67f41d58acba639f000f000472c64bc680370004000000028008000400000006")
    teams = teams[:2] + (len(teams) - 20).to_bytes(2, "big") + teams[4:]
    for i in range(20000):
        a, b = divmod(i, 250)
        engine.packet(udp(f"10.9.{a % 250}.{b + 1}", 1024 + i % 60000, "198.51.100.1", 3478, teams), float(i))
    assert len(engine.flows) == 1000 and engine.flows.evicted == 19000
    assert len(engine.expected) == 500


names_ = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._*#  \n\tüÄ", max_size=60)


@SOME
@given(st.lists(names_, max_size=20), st.lists(names_, max_size=10))
def test_domain_lists_never_raise_but_refuse_bad_lines(tmp_path_factory, lines, lookups):
    from pnsbox.classifier.lists import DomainTable, compile_file
    from pnsbox.problems import ConfigError
    path = tmp_path_factory.mktemp("lists") / "list.txt"
    path.write_text("\n".join(lines))
    try:
        table = DomainTable(compile_file(path))
    except ConfigError as exc:
        assert all(p.line >= 1 for p in exc.problems)
        return
    for name in lookups:
        table.matches(name)


@FAST
@given(st.lists(st.tuples(st.binary(min_size=4, max_size=16), st.text(max_size=120),
                          st.integers(-10, 10**6)), max_size=30))
def test_shared_names_stay_bounded_and_answer_what_was_learned_or_nothing(entries):
    from pnsbox.classifier.shared_names import SharedNames
    names = SharedNames.create(16)
    for address, name, ttl in entries:
        names.learn(address, name, ttl, 100.0)
        found = names.name_of(address, 100.0)
        assert found is None or isinstance(found, str)
    assert names.count() <= 16
