"""Lab servers: answer on TCP and UDP ports so the lab has something real to reach.

`python -m pnsbox.lab.responder NODE --tcp 80 --tcp 443 --udp 53` runs inside
a lab node. A TCP client gets an HTTP/1.0 reply (curl works); a UDP datagram
is answered with one datagram. Each reply names the node, the port and the
client's address as seen here, so a test can tell who answered and whether
NAT happened.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import struct
import sys


def reply_text(node: str, proto: str, port: int, peer: str) -> str:
    return f"pnsbox-lab {node} {proto}/{port} from {peer}\n"


def _listen(proto: str, port: int) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if proto == "tcp":
        sock.listen(128)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.setblocking(False)
    return sock


def _answer_tcp(listener: socket.socket, node: str, port: int) -> None:
    try:
        conn, (peer, _) = listener.accept()
    except BlockingIOError:
        return
    with conn:
        conn.settimeout(1.0)
        with contextlib.suppress(OSError):
            conn.recv(4096)  # the request, if any; its content does not matter
        body = reply_text(node, "tcp", port, peer).encode()
        head = f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
        with contextlib.suppress(OSError):
            conn.sendall(head.encode() + body)


IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def _answer_udp(sock: socket.socket, node: str, port: int) -> None:
    """Reply from the address the datagram was sent to (a node may hold several), or the
    client's connected socket and NAT would not recognise the reply."""
    try:
        _, ancillary, _, (peer, peer_port) = sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pktinfo = [data for level, kind, data in ancillary if level == socket.IPPROTO_IP and kind == IP_PKTINFO]
        reply_from = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, pktinfo[0][8:12], b"\0" * 4))]
        sock.sendmsg([reply_text(node, "udp", port, peer).encode()], reply_from if pktinfo else [], 0,
                     (peer, peer_port))
    except OSError:
        pass


def serve(node: str, tcp: list[int], udp: list[int]) -> None:
    selector = selectors.DefaultSelector()
    for proto, ports in (("tcp", tcp), ("udp", udp)):
        for port in ports:
            selector.register(_listen(proto, port), selectors.EVENT_READ, (proto, port))
    print("ready", flush=True)  # servers.start() waits for this line
    sys.stdout.close()
    while True:
        for key, _ in selector.select():
            proto, port = key.data
            (_answer_tcp if proto == "tcp" else _answer_udp)(key.fileobj, node, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node")
    parser.add_argument("--tcp", type=int, action="append", default=[])
    parser.add_argument("--udp", type=int, action="append", default=[])
    args = parser.parse_args()
    serve(args.node, args.tcp, args.udp)


if __name__ == "__main__":
    main()
