"""Lab client: try many (protocol, address, port) at once and say what happened.

`python -m pnsbox.lab.probe '[["tcp","10.0.10.10",443], ["icmp","10.0.10.10",0]]'`
runs inside a lab node and prints one JSON object per probe:
{"probe": [...], "result": "answered" | "refused" | "timeout" | "unreachable", "reply": "..."}.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

from .ping import ping

TIMEOUT = 1.5


def _tcp_exchange(sock: socket.socket) -> str:
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data.decode(errors="replace").split("\r\n\r\n")[-1].strip()


def _udp_exchange(sock: socket.socket) -> str:
    sock.send(b"pnsbox-lab probe")
    return sock.recv(4096).decode(errors="replace").strip()


def _attempt(proto: str, address: str, port: int, source: str | None) -> tuple[str, str]:
    kind, exchange = {"tcp": (socket.SOCK_STREAM, _tcp_exchange), "udp": (socket.SOCK_DGRAM, _udp_exchange)}[proto]
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(TIMEOUT)
        if source:
            sock.bind((source, 0))
        try:
            sock.connect((address, port))  # connected UDP: an ICMP error comes back as an exception
            return "answered", exchange(sock)
        except ConnectionRefusedError:
            return "refused", ""
        except TimeoutError:
            return "timeout", ""
        except OSError as exc:
            unreachable = exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH)
            return ("unreachable" if unreachable else "error"), str(exc)


def run_probe(probe: list) -> dict:
    proto, address, port, *rest = probe
    source = rest[0] if rest else None
    if proto == "icmp":
        result, reply = ("answered", "") if ping(address, TIMEOUT) else ("timeout", "")
    else:
        result, reply = _attempt(proto, address, int(port), source)
    return {"probe": probe, "result": result, "reply": reply}


def main(argv: list[str]) -> int:
    probes = json.loads(argv[0])
    with ThreadPoolExecutor(max_workers=min(64, max(1, len(probes)))) as pool:
        for outcome in pool.map(run_probe, probes):
            print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
