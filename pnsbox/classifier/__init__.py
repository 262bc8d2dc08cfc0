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

__all__ = ["Catalog", "Engine", "Verdict", "load_catalog"]
# Imported when first named: render and apply need only the catalog, and the engine brings the
# QUIC parser and its cryptography (~10-20 ms of every `pnsbox apply` without pnsboxd).
_HOMES = {"Catalog": "catalog", "load_catalog": "catalog", "Engine": "engine", "Verdict": "verdict"}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
