"""The classifier engine alone, in process, on one core: packets/s and flows/s.

Scenarios (best of --repeat runs each, a fresh engine per run):

- replay:     every nDPI corpus capture through the engine, as captured
- decided:    the same packets again through engines that already decided every flow
              (the O(1) path of a flow that has its verdict)
- new TLS / new QUIC / new DNS / new SYN-only: a flood of distinct new flows made from
              one real packet each (its client's port and address changed): a TLS ClientHello,
              a QUIC v1 Initial (decrypted per flow), a DNS answer, a bare TCP SYN
              (which the engine keeps as an undecided flow)
- new unknown UDP: the DNS answer with its source (port 53) changed, a datagram no parser
              claims (before 2026-11-30 this was the "new DNS flows" row)

With Debian's ndpiReader installed (libndpi-bin, nDPI 4.2) each flood is also written to a
capture (raw IP) and read by ndpiReader in the same run: its CPU seconds (user + system of
its process, its setup included, so its rate is if anything understated) beside the
engine's CPU seconds, as both share a machine other work may load (wall time would measure
the load).

Prints measured numbers side by side; not a pass/fail test.

    .venv/bin/python bench/engine.py [CORPUS_DIR] [--flows N] [--repeat R] [--cpu C] [--no-peer]
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import code_version, machine  # noqa: E402

from pnsbox.classifier import Engine, load_catalog, native  # noqa: E402
from pnsbox.classifier.capture import read  # noqa: E402
from pnsbox.classifier.packet import TCP, parse  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ndpi"


def load(corpus: Path) -> dict[str, list[tuple[float, bytes]]]:
    return {p.name: list(read(p)) for p in sorted((corpus / "pcap").iterdir()) if p.is_file()}


def first_packet(captures, name: str, wanted) -> bytes:
    for _, packet in captures[name]:
        if wanted(packet):
            return packet
    raise SystemExit(f"{name}: no packet to build flows from")


def with_new_endpoints(template: bytes, count: int, side: str = "source") -> list[bytes]:
    """`count` copies of an IPv4 packet, each from (or, side="destination", to) another
    address and port: the client's side, so a server's port 53 or 443 stays."""
    header = (template[0] & 0x0F) * 4
    address, port = (14, header) if side == "source" else (18, header + 2)
    out = []
    for i in range(count):
        packet = bytearray(template)
        packet[address:address + 2] = (i >> 16 & 0xFF, i >> 8 & 0xFF)   # last two bytes
        packet[port:port + 2] = (1024 + (i & 0xFFFF) % 64000).to_bytes(2, "big")
        out.append(bytes(packet))
    return out


def run(catalog, streams: list[list[bytes]], repeat: int, warm: bool = False):
    """Best time over `repeat` runs of all streams (a fresh engine each per run)."""
    best = best_cpu = float("inf")
    flows = packets = 0
    for _ in range(repeat):
        engines = [Engine(catalog, max_flows=1 << 20) for _ in streams]
        if warm:
            for engine, packets_of in zip(engines, streams, strict=True):
                for packet in packets_of:
                    engine.packet(packet, 0.0)
                engine.conclude(0.0)
        started, cpu = time.perf_counter(), time.process_time()
        for engine, packets_of in zip(engines, streams, strict=True):
            classify = engine.packet
            for packet in packets_of:
                classify(packet, 0.0)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        packets = sum(len(s) for s in streams)
        flows = sum(e.stats.flows for e in engines) if not warm else 0
    return packets, flows, best, best_cpu


def peer_cpu_seconds(packets: list[bytes]) -> float | None:
    """CPU seconds ndpiReader takes to read these IP packets from a capture, or None."""
    reader = shutil.which("ndpiReader")
    if reader is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".pcap") as capture:
        capture.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))  # LINKTYPE_RAW
        for i, packet in enumerate(packets):
            capture.write(struct.pack("<IIII", 1_700_000_000 + i // 1000, i % 1000 * 1000,
                                      len(packet), len(packet)) + packet)
        capture.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([reader, "-q", "-i", capture.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=600)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--flows", type=int, default=20000, help="new flows per flood scenario")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to (-1: do not pin)")
    parser.add_argument("--no-peer", action="store_true", help="do not run ndpiReader on the floods")
    args = parser.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})

    catalog = load_catalog()
    captures = load(args.corpus)
    corpus = [[packet for _, packet in packets] for packets in captures.values()]

    def tls_hello(packet):
        p = parse(packet)
        return p and p.proto == TCP and p.end - p.start > 100 and packet[p.start] == 0x16

    def quic_initial(packet):
        p = parse(packet)
        return p and p.dport == 443 and p.end - p.start > 1000 and packet[p.start] & 0xC0 == 0xC0

    def dns_answer(packet):
        p = parse(packet)
        return p and p.sport == 53 and packet[0] >> 4 == 4

    def syn(packet):
        p = parse(packet)
        return p and p.proto == TCP and p.tcp_flags == 0x02 and packet[0] >> 4 == 4

    floods = {
        "new TLS flows": first_packet(captures, "facebook.pcap", tls_hello),
        "new QUIC flows": first_packet(captures, "google_meet.pcapng", quic_initial),
        "new DNS flows": first_packet(captures, "dns_ambiguous_names.pcap", dns_answer),
        "new SYN-only flows": first_packet(captures, "facebook.pcap", syn),
        "new unknown UDP flows": first_packet(captures, "dns_ambiguous_names.pcap", dns_answer),
    }
    rows = [("replay corpus", *run(catalog, corpus, args.repeat)),
            ("decided flows", *run(catalog, corpus, args.repeat, warm=True))]
    peers = {}
    for name, template in floods.items():
        # a DNS answer comes from port 53: its client side (the destination) is what varies;
        # "unknown UDP" is the same answer with its source varied (no longer from port 53),
        # what this scenario measured before 2026-11-30
        side = "destination" if name == "new DNS flows" else "source"
        flood = with_new_endpoints(template, args.flows, side)
        rows.append((name, *run(catalog, [flood], args.repeat)))
        if not args.no_peer:
            peers[name] = peer_cpu_seconds(flood)

    print(f"engine alone, one core; {machine()}")
    print(f"{code_version()}; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {native.describe()}")
    print(f"{'scenario':<22}{'packets':>9}{'flows':>8}{'seconds':>9}{'packets/s':>12}{'flows/s':>10}"
          f"{'CPU s':>8}{'flows/CPU s':>13}")
    for name, packets, flows, seconds, cpu in rows:
        flow_rate = f"{flows / seconds:,.0f}" if flows else "-"
        cpu_rate = f"{flows / cpu:,.0f}" if flows and cpu > 0 else "-"
        print(f"{name:<22}{packets:>9}{flows or '-':>8}{seconds:>9.3f}{packets / seconds:>12,.0f}{flow_rate:>10}"
              f"{cpu:>8.3f}{cpu_rate:>13}")
    if any(v is not None for v in peers.values()):
        print("\nndpiReader (Debian's nDPI 4.2) on the same floods, CPU seconds of its process, setup included:")
        for name, cpu in peers.items():
            engine_cpu = next(row[4] for row in rows if row[0] == name)
            print(f"{name:<22}{cpu:>8.3f} s  {args.flows / cpu:>10,.0f} flows/CPU s  "
                  f"engine runs {cpu / engine_cpu:.2f}x its speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
