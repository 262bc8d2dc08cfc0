"""Agreement with nDPI, flow by flow, over the nDPI test-suite captures.

For every flow nDPI names (its label is not Unknown) the engine's verdict for the same
5-tuple is compared with nDPI's protocol and, where nDPI gives one, its Hostname/SNI:

- DNS, MDNS, HTTP, TLS, QUIC, SSH: agreed when the engine recognised the same protocol (by
  inspection, or by port where nDPI also only guessed by port) and read the same name (the
  DNS question, the HTTP Host, the SNI, the client's SSH banner), compared case-insensitively.
- other protocols (the engine does not inspect them): agreed when the engine's application,
  guessed from the catalog's ports, IP protocols and address ranges, is that protocol.
- unknown: the engine gave no application (or never saw the flow).

Prints a table per nDPI protocol, then `total: N flows, A agreed (P%)`. Not a pass/fail
test: it exits 0 whatever the numbers. `-v` lists every disagreement.

A peer column: when Debian's `ndpiReader` (package libndpi-bin, nDPI 4.2) is installed, it
reads the same captures in the same run (with -t, as the corpus's own command line) and its
labels are scored against the corpus's by the same rule (its protocol, either part of its
label, must be the expected one; for DNS/HTTP/TLS/QUIC/SSH/MDNS its name must match too).

    .venv/bin/python bench/ndpi_agreement.py [CORPUS_DIR] [-v] [--no-peer]
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from pnsbox.classifier import Engine, load_catalog
from pnsbox.classifier.capture import ndpi_corpus, read
from pnsbox.classifier.flows import flow_key

DEFAULT_CORPUS = ndpi_corpus()
NAMED = {"DNS": "dns", "MDNS": "mdns", "HTTP": "http", "TLS": "tls", "QUIC": "quic", "SSH": "ssh"}
GOAL = ("DNS", "HTTP", "TLS", "QUIC")
# nDPI protocols the engine only guesses: which catalog applications count as the same
SAME_APP = {
    "NTP": {"ntp"}, "SNMP": {"snmp"}, "DHCP": {"dhcp"}, "DHCPV6": {"dhcp"}, "SSDP": {"ssdp"},
    "NetBIOS": {"netbios", "smb"}, "RDP": {"rdp"}, "SMTP": {"smtp"}, "IMAP": {"imap"},
    "IMAPS": {"imap"}, "POP3": {"pop3"}, "FTP_CONTROL": {"ftp"}, "FTP_DATA": {"ftp"},
    "BitTorrent": {"bittorrent"}, "OpenVPN": {"openvpn"}, "WireGuard": {"wireguard"},
    "IPSec": {"ipsec"}, "SIP": {"sip"}, "RTP": {"rtp"}, "SRTP": {"rtp"}, "STUN": {"stun"},
    "ICMP": {"icmp"}, "ICMPV6": {"icmp"}, "IGMP": {"igmp"}, "Zoom": {"zoom"},
    "WhatsApp": {"whatsapp"}, "Spotify": {"spotify"}, "Dropbox": {"dropbox"},
    "ApplePush": {"apple-push"}, "Google": {"google"}, "Telegram": {"telegram"},
    "Skype_TeamsCall": {"teams"}, "WhatsAppCall": {"whatsapp"}, "NordVPN": {"nordvpn"},
}
L4 = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IGMP": 2, "ESP": 50, "AH": 51, "GRE": 47}

FLOW = re.compile(
    r"^\t(?P<n>\d+)\t(?P<l4>\S+) "
    r"(?P<src>\[[0-9a-fA-F:.]+\]|[0-9.]+):(?P<sport>\d+) (?:<->|->) "
    r"(?P<dst>\[[0-9a-fA-F:.]+\]|[0-9.]+):(?P<dport>\d+) (?P<rest>.*)$")
PROTO = re.compile(r"\[proto: (?:[A-Za-z0-9_]+:)?[\d.]+/(?P<name>[^\]]+)\]")
HOST = re.compile(r"\[Hostname/SNI: (?P<v>[^\]]*)\]")


def expected_flows(path: Path, named_only: bool = True):
    """(flow key, nDPI protocol, nDPI application, host or None) per flow nDPI names."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = FLOW.match(line)
        if not match:
            continue
        label = PROTO.search(match["rest"])["name"]
        if label == "Unknown" and named_only:
            continue
        master, _, app = label.partition(".")
        host = HOST.search(match["rest"])
        proto = L4.get(match["l4"]) or int(match["l4"]) if match["l4"].isdigit() or match["l4"] in L4 else -1
        src = ipaddress.ip_address(match["src"].strip("[]")).packed
        dst = ipaddress.ip_address(match["dst"].strip("[]")).packed
        key = flow_key(proto, src, int(match["sport"]), dst, int(match["dport"]))
        yield key, master, app or master, (host["v"] if host and host["v"] else None)


def judge(master: str, app: str, host: str | None, verdict) -> str:
    if verdict is None or verdict.app == "unknown":
        return "unknown"
    if master in NAMED:
        protocol = verdict.protocol or (verdict.app if verdict.app in NAMED.values() else None)
        if protocol != NAMED[master]:
            return "disagreed"
        if host is None or (verdict.name or "").lower() == host.lower():
            return "agreed"
        return "disagreed"
    same = SAME_APP.get(master, set()) | SAME_APP.get(app, set())
    return "agreed" if verdict.app in same else "disagreed"


def peer_labels(capture: Path) -> dict | None:
    """Flow key -> (protocol, application, host) as Debian's ndpiReader labels `capture`."""
    reader = shutil.which("ndpiReader")
    if reader is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        subprocess.run([reader, "-i", str(capture), "-q", "-t", "-v", "2", "-w", out.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
        return {key: (master, app, host)
                for key, master, app, host in expected_flows(Path(out.name), named_only=False)}


def judge_peer(master: str, app: str, host: str | None, label) -> str:
    if label is None or label[0] == "Unknown":
        return "unknown"
    if not {master, app} & {label[0], label[1]}:
        return "disagreed"
    if master in NAMED and host is not None and (label[2] or "").lower() != host.lower():
        return "disagreed"
    return "agreed"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS,
                        help=f"directory with pcap/ and expected/ (default {DEFAULT_CORPUS})")
    parser.add_argument("--inspect-limit", type=int, default=None,
                        help="packets per flow the engine inspects (default: the engine's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every disagreement")
    parser.add_argument("--no-peer", action="store_true", help="do not run ndpiReader beside")
    args = parser.parse_args(argv)

    catalog = load_catalog()
    rows: dict[str, Counter] = defaultdict(Counter)
    misses = []
    captures = sorted(p for p in (args.corpus / "pcap").iterdir() if p.is_file())
    if not captures:
        print(f"no captures in {args.corpus / 'pcap'}", file=sys.stderr)
        return 1
    for capture in captures:
        expected = args.corpus / "expected" / f"{capture.name}.out"
        if not expected.is_file():
            continue
        options = {} if args.inspect_limit is None else {"inspect_limit": args.inspect_limit}
        engine = Engine(catalog, max_flows=1 << 20, **options)
        last = 0.0
        for timestamp, packet in read(capture):
            engine.packet(packet, timestamp)
            last = timestamp
        engine.conclude(last)
        verdicts = {key: flow.verdict for key, flow in engine.flows.items()}
        peer = None if args.no_peer else peer_labels(capture)
        for key, master, app, host in expected_flows(expected):
            verdict = verdicts.get(key)
            outcome = judge(master, app, host, verdict)
            rows[master]["flows"] += 1
            rows[master][outcome] += 1
            if peer is not None:
                rows[master]["peer " + judge_peer(master, app, host, peer.get(key))] += 1
            if outcome != "agreed":
                ours = "-" if verdict is None else (
                    f"{verdict.protocol or '-'}/{verdict.app} {verdict.confidence} {verdict.name!r}")
                misses.append(f"{capture.name}: nDPI {master}.{app} {host!r} | engine {ours}")

    with_peer = any(r["peer agreed"] + r["peer disagreed"] + r["peer unknown"] for r in rows.values())
    peer_head = f"{'ndpiReader':>12}" if with_peer else ""
    print(f"{'protocol':<16}{'flows':>7}{'agreed':>8}{'disagreed':>11}{'unknown':>9}{peer_head}")
    for master in sorted(rows, key=lambda m: (-rows[m]["flows"], m)):
        row = rows[master]
        peer_cell = f"{row['peer agreed']:>12}" if with_peer else ""
        print(f"{master:<16}{row['flows']:>7}{row['agreed']:>8}{row['disagreed']:>11}{row['unknown']:>9}"
              f"{peer_cell}")
    if args.verbose:
        print("\ndisagreements and unknowns:")
        for line in misses:
            print("  " + line)
    goal_flows = sum(rows[m]["flows"] for m in GOAL)
    goal_agreed = sum(rows[m]["agreed"] for m in GOAL)
    print(f"\ngoal (DNS, HTTP, TLS, QUIC names): {goal_agreed} of {goal_flows} agreed "
          f"({100 * goal_agreed / max(goal_flows, 1):.1f}%, goal 95%)")
    flows = sum(r["flows"] for r in rows.values())
    agreed = sum(r["agreed"] for r in rows.values())
    print(f"total: {flows} flows, {agreed} agreed ({100 * agreed / max(flows, 1):.1f}%)")
    if with_peer:
        peer = sum(r["peer agreed"] for r in rows.values())
        print(f"peer (Debian's ndpiReader, same captures, same run): {peer} agreed "
              f"({100 * peer / max(flows, 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
