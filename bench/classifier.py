"""Classifier process benchmark: what pnsbox-classifier costs forwarded traffic.

    sudo .venv/bin/python bench/classifier.py            # ~1.5 minutes
    sudo .venv/bin/python bench/classifier.py --quick    # shorter runs (smoke run)

The lab: client -- middle -- server namespaces joined by veth pairs. The middle forwards and
queues the first packets of unclassified flows as the apply layer will (iptables-nft, mangle
FORWARD: no classified bit in the ct mark, under 12 packets, NFQUEUE with --queue-bypass,
--queue-balance over the queues), and an nft rule copies a classified packet mark into the ct
mark. pnsbox-classifier runs on the middle namespace (--netns).

1. Bulk TCP throughput: iperf3 client -> server through the middle, classifier on (queue rule
   and process) vs off (no queue rule), alternating, median of --repeat runs each. Goal: on/off
   >= 0.8.
2. New flows classified per second: a raw-socket sender in the client emits one-packet UDP
   flows (distinct source address and port each) at paced rates; per rate, the verdicts the
   classifier's metrics count, over the time from the sender's start until the queues are
   empty again, and the share of the flows sent that got a verdict (the rest passed
   unclassified: fail-open). The flows are mDNS queries to udp/5353
   (`_ipp._tcp.local PTR`): one-way, and the engine decides them on the first packet by
   inspection (its DNS parser, an `inspected` verdict) - a plain DNS query waits for its
   answer, and a QUIC Initial (a 1,200-byte packet to decrypt) is a costlier, rarer first
   packet than the SYN, handshake and request most flows start with. The classifier and the
   sender share the machine's cores. Measured with 1 queue and with 2 (two worker processes).
   Goal: >= 10,000/s on one core.
3. A burst beyond that rate: as many new flows as the sender can emit, classifier on vs off
   (no queue rule): packets delivered at the server over packets sent (an nft counter in the
   server), and how many of the flows got a verdict. Flows must still pass.

Everything runs in namespaces this process makes (`pnsbench-<pid>-*`), removed on exit; the
host's own namespace is never changed. A benchmark, not a test: it prints numbers and exits 0
(2 when it cannot run at all).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchkit import Namespaces, code_version, ip_batch, machine, sh, unwind_on_sigterm

from pnsbox.classifier.catalog import default_catalog
from pnsbox.model import Classifier as Settings
from pnsbox.render.apps import classify_only

ROOT = Path(__file__).resolve().parents[1]
CLASSIFIER = ROOT / ".venv" / "bin" / "pnsbox-classifier"
SERVER, MIDDLE_S = "203.0.113.2", "203.0.113.1"
MIDDLE_C = "198.51.100.1"
CLIENTS = [f"198.51.100.{i}" for i in range(10, 42)]  # 32 addresses x 50,000 ports of flows
PORTS_PER_ADDRESS = 50_000
MDNS_PORT = 5353
INSPECT = 12
GOAL_RATIO = 0.8
GOAL_FLOWS = 10_000
CATALOG = default_catalog()
_, COPY_MARK = classify_only(Settings(inspect_packets=INSPECT), "pnsbench", CATALOG)  # as pnsbox's apply layer writes it
SINK = f"""table inet pnsbench {{
  counter sink {{ }}
  chain input {{
    type filter hook input priority 0;
    udp dport {MDNS_PORT} counter name sink drop
  }}
}}
"""
# one-packet UDP flows at a paced rate (0: as fast as it can); prints {"sent", "seconds"}
SENDER = """
import json, socket, struct, sys, time
dst, port, rate, count, first = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sources = [socket.inet_aton(a) for a in sys.argv[6].split(",")]
per, payload = int(sys.argv[7]), bytes.fromhex(sys.argv[8])
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
packet = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, sources[0],
                               socket.inet_aton(dst)) + struct.pack("!HHHH", 0, port, 8 + len(payload), 0) + payload)
address = (dst, 0)
start = time.perf_counter()
for i in range(count):
    flow = first + i
    packet[12:16] = sources[flow // per % len(sources)]
    struct.pack_into("!H", packet, 20, 1024 + flow % per)
    raw.sendto(packet, address)
    if rate and i % 64 == 0:
        ahead = i / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
print(json.dumps({"sent": count, "seconds": time.perf_counter() - start}))
"""


def mdns_query(name: str) -> bytes:
    """A one-question mDNS query (PTR, class IN)."""
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    return bytes(5) + b"\x01" + bytes(6) + labels + b"\x00\x00\x0c\x00\x01"


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


class Lab:
    def __init__(self, namespaces: Namespaces):
        self.client, self.middle, self.server = (namespaces.add(n) for n in ("c", "m", "s"))
        tag = str(os.getpid())
        sh(["ip", "link", "add", f"pnsb{tag}c", "netns", self.client, "type", "veth", "peer", "name", "mc",
            "netns", self.middle])
        sh(["ip", "link", "add", f"pnsb{tag}s", "netns", self.server, "type", "veth", "peer", "name", "ms",
            "netns", self.middle])
        ip_batch(self.client, [*(f"addr add {a}/24 dev pnsb{tag}c" for a in CLIENTS),
                               f"link set pnsb{tag}c up", f"route add default via {MIDDLE_C}"])
        ip_batch(self.server, [f"addr add {SERVER}/24 dev pnsb{tag}s", f"link set pnsb{tag}s up",
                               f"route add default via {MIDDLE_S}"])
        ip_batch(self.middle, [f"addr add {MIDDLE_C}/24 dev mc", "link set mc up",
                               f"addr add {MIDDLE_S}/24 dev ms", "link set ms up"])
        sh(in_ns(self.middle, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        sh(in_ns(self.middle, "nft", "-f", "-"), stdin=COPY_MARK)
        sh(in_ns(self.server, "nft", "-f", "-"), stdin=SINK)

    def queue_rule(self, on: bool, queues: int = 1) -> None:
        """Add or remove the NFQUEUE rule (queues 0..queues-1, balanced by flow hash)."""
        sh(in_ns(self.middle, "iptables", "-t", "mangle", "-F"))  # every chain, then the emptied own chain
        sh(in_ns(self.middle, "iptables", "-t", "mangle", "-X"))
        if on:
            rules, _ = classify_only(Settings(queues=queues, inspect_packets=INSPECT), "pnsbench", CATALOG)
            sh(in_ns(self.middle, "iptables-nft-restore", "--noflush"), stdin=rules)

    def flush_conntrack(self) -> None:
        sh(in_ns(self.middle, "conntrack", "-F"), check=False)

    def delivered(self) -> int:
        listing = sh(in_ns(self.server, "nft", "list", "counter", "inet", "pnsbench", "sink")).stdout
        return int(re.search(r"packets (\d+)", listing).group(1))

    def backlog(self) -> int:
        """Packets waiting in the middle's queues for a verdict."""
        text = sh(in_ns(self.middle, "cat", "/proc/net/netfilter/nfnetlink_queue")).stdout
        return sum(int(line.split()[2]) for line in text.splitlines() if line.strip())

    def send(self, rate: float, count: int, first: int) -> dict:
        out = sh(in_ns(self.client, sys.executable, "-c", SENDER, SERVER, str(MDNS_PORT), str(rate), str(count),
                       str(first), ",".join(CLIENTS), str(PORTS_PER_ADDRESS),
                       mdns_query("_ipp._tcp.local").hex())).stdout
        return json.loads(out)


class Classifier:
    def __init__(self, middle: str, queues: int):
        self.proc = subprocess.Popen([str(CLASSIFIER), "--netns", middle, "--queues", str(queues),
                                      "--inspect-packets", str(INSPECT), "--metrics-listen", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:
            found = re.search(r"metrics on 127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                return
        raise RuntimeError("pnsbox-classifier did not start")

    def metrics(self) -> dict[str, float]:
        time.sleep(1.3)  # workers report every second
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        return {name: float(value) for name, value in
                (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))}

    def verdicts(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("pnsbox_classifier_verdicts_total"))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def iperf(lab: Lab, seconds: float) -> float:
    out = sh(in_ns(lab.client, "iperf3", "-c", SERVER, "-t", str(seconds), "-J")).stdout
    return json.loads(out)["end"]["sum_received"]["bits_per_second"]


def throughput(lab: Lab, repeat: int, seconds: float) -> dict:
    server = subprocess.Popen(in_ns(lab.server, "iperf3", "-s"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    classifier = Classifier(lab.middle, 1)
    try:
        time.sleep(0.5)
        runs: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(repeat):
            for mode in ("off", "on"):
                lab.queue_rule(mode == "on")
                lab.flush_conntrack()
                runs[mode].append(iperf(lab, seconds))
        lab.queue_rule(False)
        return runs
    finally:
        classifier.close()
        server.kill()
        server.wait()


def flow_rates(lab: Lab, queues: int, rates: list[int], seconds: float, first: int) -> tuple[list[dict], int]:
    lab.queue_rule(True, queues)
    classifier = Classifier(lab.middle, queues)
    rows = []
    try:
        for rate in rates:
            lab.flush_conntrack()
            before = classifier.verdicts()
            count = int(rate * seconds)
            start = time.perf_counter()
            sent = lab.send(rate, count, first)
            first += count
            while lab.backlog() and time.perf_counter() - start < seconds + 10:
                time.sleep(0.01)  # until the classifier has answered what the queues held
            busy = time.perf_counter() - start  # includes the sender's start-up: a conservative rate
            verdicts = classifier.verdicts() - before
            rows.append({"rate": rate, "sent": sent["sent"], "send_rate": sent["sent"] / sent["seconds"],
                         "verdicts": verdicts, "verdict_rate": verdicts / busy})
    finally:
        classifier.close()
        lab.queue_rule(False)
    return rows, first


def burst(lab: Lab, count: int, first: int) -> tuple[dict, int]:
    out = {}
    for mode in ("off", "on"):
        lab.flush_conntrack()
        classifier = None
        if mode == "on":
            lab.queue_rule(True)
            classifier = Classifier(lab.middle, 1)
            before = classifier.verdicts()
        try:
            delivered = lab.delivered()
            sent = lab.send(0, count, first)
            first += count
            time.sleep(1.0)  # let a backlog drain
            row = {"sent": sent["sent"], "send_rate": sent["sent"] / sent["seconds"],
                   "delivered": lab.delivered() - delivered}
            if classifier is not None:
                metrics = classifier.metrics()
                row["verdicts"] = sum(v for k, v in metrics.items()
                                      if k.startswith("pnsbox_classifier_verdicts_total")) - before
                row["overflow"] = metrics.get('pnsbox_classifier_queue_overflow_packets_total{queue="0"}', 0)
            out[mode] = row
        finally:
            if classifier is not None:
                classifier.close()
            lab.queue_rule(False)
    return out, first


def report(runs: dict, rates: dict[int, list[dict]], bursts: dict, seconds: float) -> None:
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    print(f"\n1. bulk TCP (iperf3, {seconds:g} s, median of {len(runs['on'])}; alternating):")
    print(f"  off (no queue rule)  {off / 1e9:7.2f} Gbit/s   runs: " + ", ".join(f"{v / 1e9:.2f}" for v in runs["off"]))
    print(f"  on  (classifier)     {on / 1e9:7.2f} Gbit/s   runs: " + ", ".join(f"{v / 1e9:.2f}" for v in runs["on"]))
    print(f"  on/off ratio {on / off:.3f} (goal >= {GOAL_RATIO})")
    # each "on" run over the "off" run just before it: the pairs share the machine's load of
    # that moment, which on a shared machine moves more than the medians' ratio shows
    pairs = [b / a for a, b in zip(runs["off"], runs["on"], strict=True)]
    print("  paired on/off: " + ", ".join(f"{r:.2f}" for r in pairs) +
          f"  (median {statistics.median(pairs):.3f}, range {min(pairs):.2f}-{max(pairs):.2f})")
    print("\n2. new one-packet flows (mDNS queries), paced; verdicts counted by the classifier's metrics:")
    print(f"  {'queues':>6} {'offered/s':>10} {'sent/s':>10} {'verdicts/s':>11} {'classified':>11}")
    best = {}
    for queues, rows in rates.items():
        for row in rows:
            share = row["verdicts"] / row["sent"] if row["sent"] else 0
            print(f"  {queues:>6} {row['rate']:>10,} {row['send_rate']:>10,.0f} {row['verdict_rate']:>11,.0f} "
                  f"{share:>10.1%}")
            best[queues] = max(best.get(queues, 0), row["verdict_rate"])
    for queues, value in best.items():
        print(f"  best with {queues} queue(s): {value:,.0f} verdicts/s (goal >= {GOAL_FLOWS:,}/s on one core)")
    print("\n3. burst of new flows as fast as the sender goes:")
    print(f"  {'mode':<4} {'sent':>8} {'sent/s':>9} {'delivered':>10} {'delivered/sent':>15} {'verdicts':>9} "
          f"{'overflow':>9}")
    for mode, row in bursts.items():
        print(f"  {mode:<4} {row['sent']:>8,} {row['send_rate']:>9,.0f} {row['delivered']:>10,} "
              f"{row['delivered'] / row['sent']:>15.4f} {row.get('verdicts', 0):>9,.0f} {row.get('overflow', 0):>9,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="iperf3 runs per mode (default 3)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/classifier.py needs root: it builds network namespaces", file=sys.stderr)
        return 2
    missing = [tool for tool in ("iperf3", "iptables", "nft", "conntrack") if not shutil.which(tool)]
    if missing or not CLASSIFIER.exists():
        print("bench/classifier.py needs " + ", ".join(missing or [str(CLASSIFIER)]), file=sys.stderr)
        return 2
    unwind_on_sigterm()
    seconds = 2 if args.quick else 5
    repeat = 1 if args.quick else args.repeat
    rate_seconds = 1 if args.quick else 2
    rates = [5_000, 20_000] if args.quick else [5_000, 10_000, 20_000, 40_000, 80_000]
    burst_count = 50_000 if args.quick else 200_000
    print(f"bench/classifier.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {machine()}")
    print(f"pnsbox: {code_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    namespaces = Namespaces()
    try:
        lab = Lab(namespaces)
        runs = throughput(lab, repeat, seconds)
        first = 0
        by_queues = {}
        for queues in (1, 2):
            by_queues[queues], first = flow_rates(lab, queues, rates, rate_seconds, first)
        bursts, first = burst(lab, burst_count, first)
        report(runs, by_queues, bursts, seconds)
    finally:
        namespaces.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
