from craft import capture

from pnsbox.classifier import http, ssh
from pnsbox.classifier.packet import parse
from pnsbox.classifier.wire import MORE


def payloads(name):
    for packet in capture(name):
        p = parse(packet)
        if p and p.end > p.start:
            yield packet[p.start:p.end]


def test_host_of_a_real_request():
    hosts = {http.request_host(p) for p in payloads("http.pcapng")} - {None}
    assert hosts == {"google.com"}


def test_host_forms():
    assert http.request_host(b"GET / HTTP/1.1\r\nHOST: Example.CO.ID:8080\r\n\r\n") == "example.co.id"
    assert http.request_host(b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n") == "2001:db8::1"
    assert http.request_host(b"POST /x HTTP/1.1\r\nUser-Agent: a\r\nHost: 10.1.2.3\r\n\r\n") == "10.1.2.3"
    assert http.request_host(b"GET / HTTP/1.0\r\n\r\n") == ""


def test_incomplete_and_foreign_input():
    assert http.request_host(b"GE") is MORE
    assert http.request_host(b"GET / HTTP/1.1\r\nAccept: */*\r\n") is MORE
    assert http.request_host(b"GET / HTTP/1.1\r\nHost: exam") is MORE
    assert http.request_host(b"HTTP/1.1 200 OK\r\n\r\n") is None
    assert http.request_host(b"\x16\x03\x01\x02\x00") is None


def test_ssh_banners():
    banners = {ssh.banner(p) for p in payloads("ssh.pcap")} - {None}
    assert {"SSH-2.0-OpenSSH_5.3", "SSH-2.0-OpenSSH_5.6"} <= banners
    assert ssh.banner(b"SSH-2.0-Open") is MORE
    assert ssh.banner(b"SS") is MORE
    assert ssh.banner(b"HTTP/1.1") is None
