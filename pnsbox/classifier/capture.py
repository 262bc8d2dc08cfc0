"""Read capture files as the engine sees packets: (timestamp, bytes from the IP header on).

For benchmarks and tests only; needs `dpkt` (the dev extra). Reads pcap and pcapng, and
strips the link layers found in practice: Ethernet (with 802.1Q/802.1ad tags and PPPoE), Linux cooked
capture v1 and v2, BSD loopback and raw IP. Frames that carry no IP (ARP, ...) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

_ETHERNET, _NULL, _RAW, _LOOP, _SLL, _SLL2 = 1, 0, 101, 108, 113, 276
_RAW_ALIASES = {12, 14}
_IP_TYPES = {0x0800, 0x86DD}
_VLAN_TYPES = {0x8100, 0x88A8, 0x9100}
_PPPOE_SESSION = 0x8864


def read(path: str | Path) -> Iterator[tuple[float, bytes]]:
    import dpkt

    with open(path, "rb") as handle:
        reader = dpkt.pcap.UniversalReader(handle)
        link = reader.datalink()
        for timestamp, frame in reader:
            packet = ip_payload(link, frame)
            if packet is not None:
                yield float(timestamp), packet


def ip_payload(link: int, frame: bytes) -> bytes | None:
    """The IP packet inside one captured frame, or None."""
    if link == _ETHERNET:
        pos, kind = 14, int.from_bytes(frame[12:14], "big")
        while kind in _VLAN_TYPES and len(frame) >= pos + 4:
            kind = int.from_bytes(frame[pos + 2:pos + 4], "big")
            pos += 4
        if kind == _PPPOE_SESSION and len(frame) >= pos + 8:  # PPPoE header, PPP protocol
            kind = {0x0021: 0x0800, 0x0057: 0x86DD}.get(int.from_bytes(frame[pos + 6:pos + 8], "big"))
            pos += 8
        return frame[pos:] if kind in _IP_TYPES else None
    if link == _SLL:
        return frame[16:] if int.from_bytes(frame[14:16], "big") in _IP_TYPES else None
    if link == _SLL2:
        return frame[20:] if int.from_bytes(frame[0:2], "big") in _IP_TYPES else None
    if link in (_NULL, _LOOP):
        packet = frame[4:]
    elif link == _RAW or link in _RAW_ALIASES:
        packet = frame
    else:
        return None
    return packet if packet and packet[0] >> 4 in (4, 6) else None


def ndpi_corpus() -> Path:
    """Where the nDPI test corpus is: $PNSBOX_NDPI_CORPUS, else `shared/corpus/ndpi` beside the
    checkout. The first that exists, or the first candidate when none does (callers say what is
    missing)."""
    checkout = Path(__file__).resolve().parents[2]
    candidates = [Path(p) for p in [os.environ.get("PNSBOX_NDPI_CORPUS")] if p]
    candidates.append(checkout.parent / "shared" / "corpus" / "ndpi")
    return next((c for c in candidates if (c / "pcap").is_dir()), candidates[0])
