"""Application classification of flows: the pure part (no kernel, no NFQUEUE).

    engine = Engine(load_catalog())
    verdict = engine.packet(ip_packet_bytes, now)   # None until the flow's application is known

Modules, one job each: packet (IP/TCP/UDP headers), dns, http, tls, quic, ssh (payload
parsers), names (what DNS answers taught: address -> name), lookup (domain suffixes and
address ranges), catalog (rules/apps/catalog.yaml, app and category ids), flows (the bounded
flow table), verdict (what a flow is, and its conntrack mark), engine (puts them together).

The hot path (packet, flows, verdict, engine and the wire, tls, quic parsers) may run compiled
by mypyc: see native.
"""

from . import native

native.choose()  # before anything imports the hot path

from .catalog import Catalog, load_catalog  # noqa: E402
from .engine import Engine  # noqa: E402
from .verdict import Verdict  # noqa: E402

__all__ = ["Catalog", "Engine", "Verdict", "load_catalog"]
