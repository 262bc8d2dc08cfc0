import ipaddress
import struct

from craft import capture, dns_message, udp

from pnsbox.classifier import dns
from pnsbox.classifier.packet import parse


def payload(packet):
    p = parse(packet)
    return packet[p.start:p.end]


def test_question_and_answers_from_a_real_response():
    answers = [m for m in (dns.parse(payload(p)) for p in capture("dns_ambiguous_names.pcap"))
               if m and m.response]
    assert answers and all(m.name for m in answers)
    assert any(m.addresses for m in answers)
    assert all(len(a) in (4, 16) and ttl >= 0 for m in answers for a, ttl in m.addresses)


def test_crafted_query_and_response():
    query = dns.parse(dns_message("srikandi.arsip.go.id"))
    assert query == dns.Message("srikandi.arsip.go.id", False, [])
    response = dns.parse(dns_message("Meet.Google.com", ["142.250.4.100", "2404:6800::1"]))
    assert response.name == "meet.google.com" and response.response
    assert [ipaddress.ip_address(a) for a, _ in response.addresses] == [
        ipaddress.ip_address("142.250.4.100"), ipaddress.ip_address("2404:6800::1")]


def test_truncated_answers_keep_the_question():
    message = dns_message("example.co.id", ["192.0.2.1"])
    cut = dns.parse(message[:-3])
    assert cut.name == "example.co.id" and cut.addresses == []


def test_malformed_names_are_refused():
    loop = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c" + b"\0\1\0\1"
    assert dns.parse(loop) is None
    assert dns.parse(b"\0" * 11) is None
    assert dns.parse(dns_message("x.y")[:14]) is None
    assert dns.parse(udp("10.0.0.1", 1, "10.0.0.2", 53, b"")[28:]) is None


def test_mdns_allows_many_questions_and_answer_only_messages():
    messages = [dns.parse(payload(p), mdns=True) for p in capture("android.pcap")
                if parse(p) and 5353 in (parse(p).sport, parse(p).dport)]
    assert any(m and m.name.endswith(".local") for m in messages)


def test_an_answers_owner_is_stepped_over_whether_a_pointer_or_labels_and_a_forward_pointer_is_refused():
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 2, 0, 0)
    question = b"\x04opds\x02go\x02id\x00" + b"\0\1\0\1"
    record = b"\0\1\0\1" + struct.pack("!IH", 60, 4)
    by_pointer = b"\xc0\x0c" + record + bytes([192, 0, 2, 1])
    by_labels = b"\x04opds\x02go\x02id\x00" + record + bytes([192, 0, 2, 2])
    message = dns.parse(header + question + by_pointer + by_labels)
    assert message.name == "opds.go.id"
    assert [ipaddress.ip_address(a) for a, _ in message.addresses] == [
        ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2")]
    forward = b"\xc0\x40" + record + bytes([192, 0, 2, 3])  # points past itself: not a prior name
    assert dns.parse(header + question + forward).addresses == []
    assert dns.skip_name(b"\x05a", 0) == -1 and dns.skip_name(b"\x00", 0) == 1
