"""Application classification of flows: the pure part (no kernel, no NFQUEUE).

    engine = Engine(load_catalog())
    verdict = engine.packet(ip_packet_bytes, now)   # None until the flow's application is known

Modules, one job each: packet (IP/TCP/UDP headers), dns, http, tls, quic, ssh (payload
parsers), names (what DNS answers taught: address -> name), lookup (domain suffixes and
address ranges), catalog (rules/apps/catalog.yaml, app and category ids), flows (the bounded
flow table), verdict (what a flow is, and its conntrack mark), engine (puts them together).
"""

from .catalog import Catalog, load_catalog
from .engine import Engine
from .verdict import Verdict

__all__ = ["Catalog", "Engine", "Verdict", "load_catalog"]
