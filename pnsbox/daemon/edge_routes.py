"""The control API's edge routes (registered on pnsbox.daemon.api's table):
  GET  /edges                     tunnelled OPDs, their edges, the tokens (never a token's text)
  POST /edges/tokens              {opd, expires: 24h}: a one-time enrollment token, shown once
  POST /edges/enroll              {token, public_key}: an edge enrols (relayed by pnsbox-web)
  POST /edges/disable, /edges/enable   {opd}
  POST /edges/config              {credential[, public_key]}: an enrolled edge fetches its config (relayed
                                  by pnsbox-web); the key it runs ends a rotation
  POST /edges/rotate              {credential, public_key}: an edge's new key (relayed by pnsbox-web)
Requests and answers are the dataclasses of pnsbox.control.messages, as on every other route.
"""

from __future__ import annotations

import json
import threading
import time

from ..apply.owned import write_atomic
from ..control import messages as m
from ..edge import hub
from ..edge.book import EdgeBook, EnrollRefused
from ..observe.edges import FETCHED
from ..wording import say
from .api import route
from .core import Refused


def _config(daemon):
    return daemon._running_config()


def _admin(request) -> None:
    """Enrolling and revoking edges is an admin's business (the web UI passes its user's role)."""
    if not request.is_admin:
        raise Refused(say("edge.admins_only"))


@route("GET", "/edges")
def edges(handler, daemon, body):
    """The book's view of every edge, with what the hub's interface sees of each (up, handshake)."""
    from ..observe import edges as observe_edges

    listing = hub.listing(EdgeBook(daemon.state_dir), _config(daemon))
    now = time.time()
    _, seen = observe_edges.read(daemon.netns, str(daemon.state_dir))
    for edge in seen:
        if edge.opd in listing["edges"]:
            listing["edges"][edge.opd].update(up=edge.up(now) and not edge.disabled,
                                              latest_handshake=edge.latest_handshake, endpoint=edge.endpoint,
                                              fetched_version=edge.fetched_version)
    return m.parse(m.EdgeListing, listing)


@route("POST", "/edges/tokens")
def token_add(handler, daemon, body):
    asked = m.parse(m.EdgeTokenRequest, body)
    request = handler._request(asked)
    _admin(request)
    config = _config(daemon)
    if config is None:
        raise LookupError(say("edge.no_config"))
    return m.parse(m.EdgeToken, hub.issue_token(EdgeBook(daemon.state_dir), daemon.audit, config, asked.opd,
                                                asked.expires or "24h", request.author, request.where))


@route("POST", "/edges/enroll")
def enroll(handler, daemon, body):
    asked = m.parse(m.EnrollRequest, body)
    request = handler._request(asked)
    try:
        with daemon.lock:  # not while an apply renders the hub's peers
            reply = hub.enroll(EdgeBook(daemon.state_dir), daemon.audit, _config(daemon), asked.token,
                               asked.public_key, request.where)
            _tunnels_now(daemon)  # the new peer is let in at once
            return m.parse(m.Enrolled, reply)
    except EnrollRefused as exc:
        raise Refused(str(exc)) from None


def _tunnels_now(daemon) -> None:
    """The hub's peers follow the book now; an HA peer takes the book over at once (nudged)."""
    daemon.tunnels_now()
    if daemon.ha is not None:
        daemon.ha.notify_change()


@route("POST", "/edges/disable")
def disable(handler, daemon, body):
    asked = m.parse(m.EdgeRequest, body)
    request = handler._request(asked)
    _admin(request)
    with daemon.lock:
        reply = m.parse(m.EdgeDisabled, hub.set_disabled(EdgeBook(daemon.state_dir), daemon.audit, asked.opd, True,
                                                         request.author, request.where))
        _tunnels_now(daemon)  # its peer is removed: the tunnel is cut now, not at the next apply
    return reply


@route("POST", "/edges/enable")
def enable(handler, daemon, body):
    asked = m.parse(m.EdgeRequest, body)
    request = handler._request(asked)
    _admin(request)
    with daemon.lock:
        reply = m.parse(m.EdgeDisabled, hub.set_disabled(EdgeBook(daemon.state_dir), daemon.audit, asked.opd, False,
                                                         request.author, request.where))
        _tunnels_now(daemon)
    return reply


@route("POST", "/edges/config")
def edge_config(handler, daemon, body):
    """An enrolled edge fetches its config, showing the credential it got at enrollment
    (relayed by pnsbox-web). A disabled edge gets a refusal, and nothing else."""
    from ..edge.config import edge_config as render_edge_config

    asked = m.parse(m.EdgeConfigRequest, body)
    book = EdgeBook(daemon.state_dir)
    edge = book.edge_of(asked.credential)
    if edge is None:
        raise Refused("not an enrolled edge's credential")
    if edge.disabled:
        raise Refused(f"the edge of {edge.opd} is disabled on the hub")
    config = _config(daemon)
    if config is None or edge.opd not in config.opds or not config.opds[edge.opd].link.is_wireguard:
        raise Refused(f"{edge.opd} is not tunnelled in the hub's running config")
    running_key = asked.public_key
    if running_key is not None and edge.previous_key and book.confirm_key(edge.opd, running_key):
        with daemon.lock:
            _tunnels_now(daemon)  # the rotation is over: the previous key's peer goes
        daemon.audit.append("edge-key-confirmed", f"edge:{edge.opd}", handler._request(asked).where,
                            say("audit.edge-key-confirmed", opd=edge.opd, key=running_key))
    reply = m.parse(m.EdgeConfig, render_edge_config(config, edge, book.hub_public_key(), daemon.running()))
    _note_fetch(daemon, edge.opd, reply)
    return reply


@route("POST", "/edges/rotate")
def rotate(handler, daemon, body):
    """An edge registers a new public key (with its credential, through its tunnel): a peer that
    carries nothing yet, while the current key carries on (this reply among it). The hub confirms
    the rotation itself when it sees the edge shake hands with the new key (_promote_when_seen)."""
    asked = m.parse(m.RotateRequest, body)
    request = handler._request(asked)
    try:
        with daemon.lock:
            edge = EdgeBook(daemon.state_dir).rotate(asked.credential, asked.public_key)
            _tunnels_now(daemon)
    except EnrollRefused as exc:
        daemon.audit.append("edge-rotate-refused", "edge", request.where, say("audit.edge-rotate-refused",
                                                                                why=str(exc)[:300]))
        raise Refused(str(exc)) from None
    daemon.audit.append("edge-rotate", f"edge:{edge.opd}", request.where,
                        say("audit.edge-rotate", opd=edge.opd, key=edge.next_key, current=edge.public_key))
    threading.Thread(target=_promote_when_seen, args=(daemon, edge.opd, edge.next_key), daemon=True,
                     name=f"rotation-{edge.opd}").start()
    return m.Rotated(edge.opd, edge.next_key, time.time())


def _promote_when_seen(daemon, opd: str, key: str, within: float = 120.0) -> None:
    """Watch the hub's interface for the edge's handshake with its new KEY; then the key carries
    the edge's traffic (its allowed IPs move to it) and the old one stops. Not seen within
    WITHIN seconds, the rotation stays registered: the edge's next config fetch with the new key
    ends it as well (EdgeBook.confirm_key)."""
    from ..observe import wg as observe_wg

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        config = daemon.config
        interface = config.site.wireguard.interface if config is not None and config.site.wireguard else None
        running = observe_wg.read(daemon.netns, interface) if interface else None
        peer = running.peers.get(key) if running else None
        if peer is not None and peer.latest_handshake:
            with daemon.lock:
                edge = EdgeBook(daemon.state_dir).promote(opd, key)
                if edge is not None:
                    _tunnels_now(daemon)
                    daemon.audit.append("edge-key-confirmed", f"edge:{opd}", "local",
                                        say("audit.edge-key-confirmed.handshake", opd=opd, key=key))
            return
        time.sleep(0.2)


def _note_fetch(daemon, opd: str, reply: m.EdgeConfig) -> None:
    """Which version each edge fetched (pnsbox_edge_config_version): written only when it changes,
    so a thousand edges polling every few seconds cost no disk writes."""
    fetched = getattr(daemon, "edges_fetched", None)
    path = daemon.state_dir / FETCHED
    if fetched is None:
        try:
            fetched = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            fetched = {}
        daemon.edges_fetched = fetched
    known = fetched.get(opd, {})
    if (known.get("version"), known.get("digest")) != (reply.version, reply.digest):
        fetched[opd] = {"version": reply.version, "digest": reply.digest, "time": time.time()}
        write_atomic(path, json.dumps(fetched, sort_keys=True))
