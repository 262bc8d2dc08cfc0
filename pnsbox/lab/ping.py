"""A minimal ICMP echo, because the lab machines ship no `ping` binary.

Run inside a lab node: `ip netns exec NS python -m pnsbox.lab.ping ADDRESS`
exits 0 when ADDRESS answered, 1 when it did not. Needs root (a raw socket:
new namespaces leave unprivileged ping sockets disabled).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import sys
import threading
import time

from ..apply.netns import socket_in

ECHO_REQUEST = 8
ECHO_REPLY = 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(ident: int, seq: int) -> bytes:
    payload = b"pnsbox-lab-ping"
    header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


def _is_reply(packet: bytes, ident: int, address: str) -> bool:
    header_len = (packet[0] & 0x0F) * 4  # raw IPv4 sockets hand us the IP header too
    if socket.inet_ntoa(packet[12:16]) != address or len(packet) < header_len + 8:
        return False
    kind, _, _, got_ident, _ = struct.unpack("!BBHHH", packet[header_len:header_len + 8])
    return kind == ECHO_REPLY and got_ident == ident


def ping(address: str, timeout: float = 2.0, interval: float = 0.2, netns: str | None = None) -> bool:
    """True once ADDRESS answers an echo; retries every INTERVAL (the first may wait on ARP)."""
    ident = (os.getpid() ^ threading.get_ident()) & 0xFFFF  # threads of one daemon ping apart
    deadline = time.monotonic() + timeout
    with socket_in(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            with contextlib.suppress(OSError):  # no route (yet): count it as a lost echo
                sock.sendto(_echo(ident, seq), (address, 0))
            resend_at = min(deadline, time.monotonic() + interval)
            while (left := resend_at - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                if _is_reply(sock.recv(2048), ident, address):
                    return True
    return False


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: python -m pnsbox.lab.ping ADDRESS [TIMEOUT_SECONDS]", file=sys.stderr)
        return 2
    timeout = float(argv[1]) if len(argv) == 2 else 2.0
    return 0 if ping(argv[0], timeout) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
