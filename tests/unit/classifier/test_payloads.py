"""Protocols read from their own structure, on any port: BitTorrent, OpenVPN, WireGuard, IKE,
STUN/TURN with the calling application, RTP, SIP, FTP data channels."""

import struct

import pytest
from craft import capture, tcp, udp

from pnsbox.classifier import Engine, bittorrent, ftp, ike, openvpn, rtp, sip, stun, wireguard
from pnsbox.classifier.packet import parse

A, B = "10.1.0.2", "198.51.100.7"


def verdicts_of(*packets, **options):
    engine = Engine(**options)
    out = [engine.packet(packet, float(i)) for i, packet in enumerate(packets)]
    return engine, out


def final(engine):
    """Every flow's verdict once the capture is over."""
    engine.conclude()
    return [flow for _, flow in engine.flows.items()]


def stun_message(kind: int, attributes: list[tuple[int, bytes]], pad: bool = True) -> bytes:
    body = b""
    for number, value in attributes:
        body += struct.pack("!HH", number, len(value)) + value
        if pad:
            body += bytes(-len(value) % 4)
    return struct.pack("!HH", kind, len(body)) + stun.COOKIE + bytes(12) + body


def rtp_packet(seq: int, ssrc: int = 0x3796CB71, kind: int = 8) -> bytes:
    return struct.pack("!BBHII", 0x80, kind, seq, seq * 160, ssrc) + bytes(160)


# --- BitTorrent ---

def test_a_peer_wire_handshake_on_any_port_is_bittorrent():
    hello = bittorrent.HANDSHAKE + bytes(8) + bytes(range(20)) + b"-qB4250-" + bytes(12)
    _, (verdict,) = verdicts_of(tcp(A, 40000, B, 443, hello))
    assert (verdict.app, verdict.category, verdict.confidence) == ("bittorrent", "file-sharing", "inspected")


def test_a_handshake_cut_after_ten_bytes_waits_for_the_rest():
    hello = bittorrent.HANDSHAKE + bytes(48)
    _, verdicts = verdicts_of(tcp(A, 40000, B, 5555, hello[:10], seq=1),
                              tcp(A, 40000, B, 5555, hello[10:], seq=11))
    assert verdicts[0] is None and verdicts[1].app == "bittorrent"


def test_dht_queries_and_udp_tracker_connects_are_bittorrent_but_other_bencode_is_not():
    query = b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:t2:aa1:y1:qe"
    assert bittorrent.udp_message(query)
    assert not bittorrent.udp_message(b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:y1:qe")  # no t
    assert not bittorrent.udp_message(b"d3:fooi1ee")
    assert not bittorrent.udp_message(b"d1:t2:aa1:y1:qe trailing")
    connect = (0x41727101980).to_bytes(8, "big") + bytes(4) + b"\x12\x34\x56\x78"
    assert bittorrent.udp_message(connect)
    _, (verdict,) = verdicts_of(udp(A, 6000, B, 7000, query))
    assert verdict.app == "bittorrent"


def test_a_utp_syn_is_bittorrent_once_the_peer_accepts_it():
    syn = struct.pack("!BBHIIIHH", 0x41, 0, 0x4567, 1, 0, 0x100000, 0x23C6, 0)
    state = struct.pack("!BBHIIIHH", 0x21, 0, 0x4567, 2, 5, 0x100000, 0x1111, 0x23C6)
    wrong = struct.pack("!BBHIIIHH", 0x21, 0, 0x4568, 2, 5, 0x100000, 0x1111, 0x23C6)
    _, verdicts = verdicts_of(udp(A, 6000, B, 7000, syn), udp(B, 7000, A, 6000, state))
    assert verdicts[0] is None and verdicts[1].app == "bittorrent"
    _, verdicts = verdicts_of(udp(A, 6000, B, 7000, syn), udp(B, 7000, A, 6000, wrong), inspect_limit=2)
    assert verdicts[1].app != "bittorrent"


def test_a_tracker_announce_over_http_is_bittorrent_and_a_page_is_not():
    announce = b"GET /announce?info_hash=%12%34&peer_id=-qB-&port=6881 HTTP/1.1\r\nHost: tracker.example\r\n\r\n"
    page = b"GET /announce/news.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    _, (verdict,) = verdicts_of(tcp(A, 40000, B, 80, announce))
    assert verdict.app == "bittorrent"
    _, (verdict,) = verdicts_of(tcp(A, 40001, B, 80, page))
    assert (verdict.app, verdict.protocol) == ("http", "http")


def test_the_corpus_bittorrent_flows_are_all_recognised():
    engine, _ = verdicts_of(*capture("bittorrent.pcap"))
    apps = [flow.verdict.app for flow in final(engine)]
    assert apps.count("bittorrent") == 24
    engine, _ = verdicts_of(*capture("bittorrent_utp.pcap"))
    assert {flow.verdict.app for flow in final(engine)} == {"bittorrent"}


# --- VPNs ---

def client_reset(session: bytes = b"\x11" * 8, digest: int = 0) -> bytes:
    if not digest:
        return b"\x38" + session + b"\0" + bytes(4)
    return b"\x38" + session + b"\xaa" * digest + b"\0\0\0\x01" + b"\x60\0\0\0" + b"\0" + bytes(4)


def test_openvpn_hard_resets_are_recognised_with_and_without_tls_auth():
    assert openvpn.reset(client_reset())
    assert openvpn.reset(client_reset(digest=20))
    assert openvpn.reset(client_reset(digest=64))
    server = b"\x40" + b"\x22" * 8 + b"\x01" + bytes(4) + b"\x11" * 8 + bytes(4)
    assert openvpn.reset(server)
    assert not openvpn.reset(b"\x38" + b"\x11" * 8 + b"\0" + b"\0\0\0\x07")  # not packet id 0
    assert not openvpn.reset(b"\x39" + bytes(13))                            # key id 1
    assert not openvpn.reset(client_reset(digest=20)[:-1] + b"\x01")


def test_openvpn_over_udp_and_tcp_is_vpn_whatever_the_port():
    _, (verdict,) = verdicts_of(udp(A, 50000, B, 443, client_reset(digest=20)))
    assert (verdict.app, verdict.category) == ("openvpn", "vpn")
    record = client_reset()
    _, (verdict,) = verdicts_of(tcp(A, 50000, B, 443, len(record).to_bytes(2, "big") + record))
    assert (verdict.app, verdict.category) == ("openvpn", "vpn")


def test_the_corpus_openvpn_flows_are_all_recognised():
    engine, _ = verdicts_of(*capture("openvpn.pcap"))
    assert [f.verdict.app for f in final(engine)].count("openvpn") == 10


def test_wireguard_handshakes_are_recognised_on_any_port_and_transport_data_alone_is_not():
    initiation = b"\x01\0\0\0" + bytes(144)
    assert wireguard.handshake(initiation)
    assert wireguard.handshake(b"\x02\0\0\0" + bytes(88))
    assert not wireguard.handshake(b"\x01\0\0\0" + bytes(143))
    assert not wireguard.handshake(b"\x04\0\0\0" + bytes(144))
    _, (verdict,) = verdicts_of(udp(A, 40000, B, 53000, initiation))
    assert (verdict.app, verdict.category) == ("wireguard", "vpn")


def test_ike_sa_init_is_ipsec_on_500_and_behind_the_non_esp_marker():
    header = b"\x12" * 8 + bytes(8) + bytes([33, 0x20, 34, 0x08]) + bytes(4)
    message = header + (28 + 8).to_bytes(4, "big") + bytes(8)
    assert ike.message(message) and ike.message(bytes(4) + message)
    assert not ike.message(message[:-1])
    assert not ike.message(bytes(8) + message[8:])
    _, (verdict,) = verdicts_of(udp(A, 4500, B, 4500, bytes(4) + message))
    assert (verdict.app, verdict.category) == ("ipsec", "vpn")


# --- calls ---

def test_stun_attributes_tell_teams_and_whatsapp_calls_apart():
    teams = stun_message(0x0003, [(0x000F, b"\x72\xc6\x4b\xc6"), (0x8008, bytes(4))])
    whatsapp = stun_message(0x0003, [(0x4000, bytes(102))], pad=False)
    plain = stun_message(0x0001, [(0x0006, b"ab:cd"), (0x0008, bytes(20))])
    assert stun.application(stun.attributes(teams)) == "teams"
    assert stun.application(stun.attributes(whatsapp)) == "whatsapp"
    assert stun.application(stun.attributes(plain)) is None
    assert stun.attributes(plain[:-1]) is None
    assert stun.attributes(b"\x00\x03\x00\x00" + b"\x21\x12\xa4\x43" + bytes(12)) is None  # no cookie
    assert stun.attributes(b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x43" + bytes(12)) is None  # nor attributes


def test_a_call_socket_named_by_its_relay_exchange_names_its_peer_to_peer_flows():
    teams = stun_message(0x0003, [(0x8008, bytes(4))])
    check = stun_message(0x0001, [(0x0006, b"ab:cd"), (0x0008, bytes(20))])
    engine, verdicts = verdicts_of(udp(A, 50016, B, 3478, teams),
                                   udp("203.0.113.9", 16332, A, 50016, check),
                                   udp("203.0.113.9", 16332, A, 50017, check))
    assert [v.app for v in verdicts] == ["teams", "teams", "stun"]
    assert verdicts[0].category == "conferencing"


def test_rtp_is_named_by_two_packets_of_one_stream_and_not_by_one():
    engine, verdicts = verdicts_of(udp(A, 30000, B, 40392, rtp_packet(100)),
                                   udp(A, 30000, B, 40392, rtp_packet(101)))
    assert verdicts[0] is None and (verdicts[1].app, verdicts[1].category) == ("rtp", "voip")
    _, verdicts = verdicts_of(udp(A, 30000, B, 40392, rtp_packet(100)),
                              udp(A, 30000, B, 40392, rtp_packet(105)), inspect_limit=2)
    assert verdicts[1].app != "rtp"


def test_sip_on_any_port_and_its_sdp_media_port():
    invite = (b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.0.2\r\n\r\n"
              b"v=0\r\nc=IN IP4 10.1.0.2\r\nm=audio 30000 RTP/AVP 0 8\r\n")
    assert sip.message(invite) and sip.media(invite) == [(bytes([10, 1, 0, 2]), 30000),
                                                         (bytes([10, 1, 0, 2]), 30001)]
    assert not sip.message(b"INVITE everyone to the party\r\n")
    _, verdicts = verdicts_of(udp(A, 5070, B, 5070, invite), udp(A, 30000, B, 41000, rtp_packet(7)))
    assert verdicts[0].app == "sip" and verdicts[1].app == "rtp"


def test_the_corpus_calls_are_named_after_their_application():
    engine, _ = verdicts_of(*capture("wa_voice.pcap"))
    stun_flows = [f.verdict for f in final(engine) if f.verdict.protocol in ("stun", "rtp")]
    assert len(stun_flows) == 7 and {v.app for v in stun_flows} == {"whatsapp"}
    engine, _ = verdicts_of(*capture("teams.pcap"))
    assert {f.verdict.app for f in final(engine) if f.verdict.protocol == "stun"} == {"teams"}


# --- FTP ---

def test_pasv_epsv_port_and_eprt_name_the_data_connection():
    server = bytes([90, 130, 70, 73])
    assert ftp.data_endpoint(b"227 Entering Passive Mode (90,130,70,73,100,85).\r\n", server) == (server, 25685)
    assert ftp.data_endpoint(b"229 Entering Extended Passive Mode (|||6446|)\r\n", server) == (server, 6446)
    assert ftp.data_endpoint(b"PORT 10,1,0,2,7,138\r\n", server) == (bytes([10, 1, 0, 2]), 1930)
    assert ftp.data_endpoint(b"EPRT |2|2001:db8::1|5282|\r\n", server)[1] == 5282
    assert ftp.data_endpoint(b"227 (300,1,1,1,1,1)\r\n", server) is None
    assert ftp.data_endpoint(b"230 Login successful.\r\n", server) is None


def test_an_ftp_data_connection_follows_the_pasv_of_its_control_connection():
    engine, verdicts = verdicts_of(
        tcp(B, 21, A, 50694, b"220 (vsFTPd 3.0.3)\r\n", flags=0x18),
        tcp(B, 21, A, 50694, b"227 Entering Passive Mode (198,51,100,7,100,85).\r\n", seq=2000),
        tcp(A, 50695, B, 25685, flags=0x02),
        tcp(A, 50696, B, 25686, flags=0x02))
    assert verdicts[0].app == "ftp"
    assert (verdicts[2].app, verdicts[2].protocol) == ("ftp", "ftp-data")
    assert verdicts[3] is None


def test_the_corpus_ftp_data_flows_are_ftp():
    engine, _ = verdicts_of(*capture("ftp.pcap"))
    assert [f.verdict.protocol for f in final(engine)].count("ftp-data") == 2


@pytest.mark.parametrize("payload", [b"\x13BitTorrent protocol", b"\x00\x0e\x38", b"d1:t2:aa1:y1:qe"])
def test_recognisers_leave_their_first_bytes_alone_on_other_traffic(payload):
    # the same bytes deep inside a TLS record or a DNS message name nothing new
    packet = udp(A, 5353, "224.0.0.251", 5353, bytes(12) + payload)
    assert parse(packet) is not None
    _, (verdict,) = verdicts_of(packet)
    assert verdict is None or verdict.app not in ("bittorrent", "openvpn")


def test_rtp_header_rejects_rtcp_and_reserved_types():
    assert rtp.header(bytes([0x80, 200]) + bytes(10)) is None
    assert rtp.header(bytes([0x80, 72]) + bytes(10)) is None
    assert rtp.header(bytes([0x80, 0]) + bytes(10)) == (0, 0)


def test_classic_stun_without_the_cookie_is_stun_only_with_a_type_rfc_3489_defines():
    classic = struct.pack("!HH", 0x0001, 24) + bytes(16) + struct.pack("!HH", 0x0003, 4) + bytes(4) \
        + struct.pack("!HH", 0x0101, 12) + bytes(12)
    assert stun.attributes(classic[:20 + 8]) is None  # its length says 24 more bytes
    assert stun.attributes(classic[:20] + classic[20:44][:24]) is not None
    assert stun.attributes(struct.pack("!HH", 0x0003, 0) + bytes(16)) is None  # not a classic type


def test_the_corpus_zoom_stun_flows_are_zoom_by_its_address_range_and_the_calls_socket():
    engine, _ = verdicts_of(*capture("zoom.pcap"))
    stun_flows = [f.verdict for f in final(engine) if f.verdict.protocol == "stun"]
    assert len(stun_flows) == 3 and {v.app for v in stun_flows} == {"zoom"}
