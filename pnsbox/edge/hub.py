"""What the hub does for its edges, shared by pnsboxd's control API and the CLI without a
daemon: issue tokens, enrol an edge, list and disable edges. Each change is audited; a refused
enrollment is audited too (who tried, which OPD if the token named one), and records no key."""

from __future__ import annotations

import time

from ..model import Config
from ..store import AuditLog
from ..wording import say
from .book import EdgeBook, EnrollRefused, parse_lifetime


def issue_token(book: EdgeBook, audit: AuditLog, config: Config, opd: str, lifetime: str,
                author: str, origin: str) -> dict:
    text, token = book.add_token(config, opd, parse_lifetime(lifetime or "24h"), author)
    audit.append("edge-token-add", author, origin, say("audit.edge-token-add", token=token.id, opd=opd,
                                                                 expires=_utc(token.expires)))
    return {"token": text, "id": token.id, "opd": opd, "expires": token.expires}


def enroll(book: EdgeBook, audit: AuditLog, config: Config | None, token: str, public_key: str,
           origin: str) -> dict:
    """The edge's enrollment: its public key for the hub's; what it needs to bring up its tunnel."""
    try:
        if config is None or config.site.wireguard is None:
            raise EnrollRefused("this hub runs no WireGuard (site.wireguard) yet")
        edge, credential = book.enroll(config, token, public_key)
    except EnrollRefused as exc:
        audit.append("edge-enroll-refused", "edge", origin, say("audit.edge-enroll-refused", why=str(exc)[:300]))
        raise
    audit.append("edge-enroll", f"edge:{edge.opd}", origin, say("audit.edge-enroll", opd=edge.opd, key=edge.public_key,
                                                               token=edge.token, tunnel=str(edge.tunnel_address)))
    hub = config.site.wireguard
    return {"opd": edge.opd, "public_key": edge.public_key, "tunnel_address": edge.tunnel_address,
            "credential": credential,
            "subnets": [str(s) for s in config.opds[edge.opd].subnet],
            "hub": {"public_key": book.hub_public_key(), "tunnel_address": str(hub.hub_address.ip),
                    "listen_port": hub.listen_port, "tunnel": str(hub.tunnel)}}


def listing(book: EdgeBook, config: Config | None, now: float | None = None) -> dict:
    """Every tunnelled OPD with its edge (or none yet), and the tokens (never their text or hash)."""
    now = time.time() if now is None else now
    state = book.read()
    tunnelled = [n for n, o in config.opds.items() if o.link.is_wireguard] if config else []
    edges = {}
    for opd in sorted(set(tunnelled) | set(state.edges)):
        edge = state.edges.get(opd)
        edges[opd] = {"in_config": opd in tunnelled, "enrolled": edge is not None,
                      **({"public_key": edge.public_key, "tunnel_address": edge.tunnel_address,
                          "enrolled_at": edge.enrolled, "key_since": edge.key_since, "disabled": edge.disabled}
                         if edge else {})}
    tokens = [{"id": t.id, "opd": t.opd, "created": t.created, "expires": t.expires, "author": t.author,
               "state": t.state(now), "used": t.used} for t in state.tokens]
    return {"edges": edges, "tokens": tokens}


def set_disabled(book: EdgeBook, audit: AuditLog, opd: str, disabled: bool, author: str, origin: str) -> dict:
    edge = book.set_disabled(opd, disabled)
    audit.append("edge-disable" if disabled else "edge-enable", author, origin,
                 say("audit.edge-disable", opd=opd) if disabled else say("audit.edge-enable", opd=opd))
    return {"opd": opd, "disabled": edge.disabled}


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))
