"""pnsboxd's link to its HA peer: the pair runs one config.

Each hub's pnsboxd listens on `peers[me]:port` inside its namespace (the ruleset allows that port
between the two peer addresses only) and, once a second and at once when the peer nudges it,
asks the peer for its state: its history's fingerprints (replication.fingerprint), the version
it runs, the confirmed one, a change awaiting confirm, its role. Then (replication.next_step):
a hub holding fewer versions fetches the missing ones oldest first, records them as they were
made (same number, author, time, files) and runs what the peer runs on its own kernel; a
standby whose history equals the active's runs what the active runs (a confirm, a rollback);
two histories that differ are a split brain, shown and audited, never overwritten, until an
admin keeps one side (`pnsbox ha resolve --keep HUB`: the other side's versions are set aside,
not deleted). Every request and answer is signed with the pair key (pairkey); a request that is
not is refused and audited.

The peer API (HTTP on the sync link, signed):
  GET  /peer/state        the state above
  GET  /peer/versions/N   one version with its files
  POST /peer/nudge        "something changed here": sync now
  POST /peer/resolve      {keep, fork, author}: the asker's side is kept, this hub sets its own aside
  GET  /peer/edges        the edge book and the hub's WireGuard key, sealed (edge_sync): a hub that
                          is not active takes the active's when their digests (in the state) differ
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from ..apply import wg
from ..apply.netns import socket_in
from ..errors import BadRequest, ChecksFailed, ConfigError, KernelError, PlanError, Refused, Unreachable
from ..observe import wg as observe_wg
from ..wording import say
from . import edge_sync, pairkey
from .replication import RunState, fingerprint, next_step, relation

SYNC_SECONDS = 1.0  # how often a hub asks its peer (a change nudges it at once)
ROLE_WATCH_SECONDS = 0.1  # how soon a hub that became active asks its edges for a handshake
HANDSHAKE_ASKS = (0.0, 0.3, 0.7, 1.5)  # pauses between those asks
PEER_TIMEOUT = 3.0
VERSION_TIMEOUT = 60.0  # a 1,000-OPD version is about 1 MB
DEFAULT_PORT = 7443
MAX_REQUEST = 1 << 20
MAX_ANSWER = 64 << 20
RETRY_FAILED_SECONDS = 30.0  # a version this hub's kernel refused is tried again this often, not every pass
AUDIT_REFUSALS_EVERY = 60.0  # refused requests are audited at most this often (the rest are counted)
ROLES = ("active", "standby", "fault", "unknown")
HA_RUN_ROOT = Path("/run/pnsbox/ha")
IP_FREEBIND = 15  # listen on peers[me] before an apply has put the address on the sync link


class PeerError(Exception):
    """The peer answered, but not as a genuine peer does (refused us, or an unsigned answer)."""


@dataclass(frozen=True)
class Pair:
    me: str
    peer: str
    my_address: str
    peer_address: str
    port: int


def parse_peers(text: str) -> dict[str, str]:
    """`hub-a=10.254.0.1,hub-b=10.254.0.2` (pnsboxd --ha-peers) -> {name: address}."""
    peers = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, address = item.partition("=")
        if not sep or not name or not address:
            raise ValueError(f"`{item}`: give NAME=ADDRESS")
        peers[name.strip()] = address.strip()
    if len(peers) != 2:
        raise ValueError("an HA pair is exactly two hubs: NAME=ADDRESS,NAME=ADDRESS")
    return peers


def pair_of(config, me: str, fallback: dict[str, str] | None = None, port: int | None = None) -> Pair | None:
    """Who the peer is, from the running config's site.ha (else the command line's --ha-peers)."""
    ha = getattr(config.site, "ha", None) if config is not None else None
    if ha is not None:
        peers, port = {name: str(address) for name, address in ha.peers.items()}, ha.port
    elif fallback:
        peers = fallback
    else:
        return None
    if me not in peers:
        raise ValueError(f"this hub is `{me}`, but the pair is {' and '.join(peers)}: start pnsboxd with "
                         f"--peer {' or --peer '.join(peers)}")
    (other,) = (name for name in peers if name != me)
    return Pair(me, other, peers[me], peers[other], port or DEFAULT_PORT)


@dataclass(frozen=True)
class Role:
    role: str  # active | standby | fault | unknown
    transitions: int = 0


def local_role(netns: str | None) -> Role:
    """This hub's role. ha-config's observe.ha.role() when present (role.json checked against the
    virtual addresses); until then role.json alone, as the contract (HA-CONTRACT.md) fixes it."""
    try:
        from ..observe import ha  # noqa: PLC0415  (ha-config's module; not every checkout has it yet)
    except ImportError:
        ha = None
    if ha is not None and hasattr(ha, "role"):
        found = ha.role(netns)
        return Role(getattr(found, "role", "unknown"), int(getattr(found, "transitions", 0) or 0))
    path = (HA_RUN_ROOT / netns if netns else HA_RUN_ROOT) / "role.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return Role("unknown")
    role = record.get("role") if isinstance(record, dict) else None
    return Role(role if role in ROLES else "unknown", int(record.get("transitions") or 0))


class Chain:
    """The history's fingerprints, computed once per version (versions never change)."""

    def __init__(self, history):
        self.history = history
        self._known: dict[int, str] = {}
        self._lock = threading.Lock()

    def get(self) -> list[tuple[int, str]]:
        with self._lock:
            ids = self.history.ids()
            if not set(self._known) <= set(ids):  # versions were set aside: start again
                self._known = {}
            out, previous = [], ""
            for number in ids:
                if number not in self._known:
                    version = self.history.get(number)
                    self._known[number] = fingerprint(previous, version.id, version.parent, version.files)
                previous = self._known[number]
                out.append((number, previous))
            return out


class _PeerConnection(http.client.HTTPConnection):
    """HTTP from this hub's address, in its namespace, to the peer."""

    def __init__(self, netns: str | None, source: str, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.netns, self.source = netns, source

    def connect(self):
        sock = socket_in(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            sock.bind((self.source, 0))  # the nft rule allows peers[me] -> peers[peer] only
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _PeerServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sock: socket.socket, link: PeerLink):
        super().__init__(sock.getsockname(), _PeerHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.link = link


class _PeerHandler(BaseHTTPRequestHandler):
    timeout = 30

    def log_message(self, *args):
        pass

    def _answer(self, status: int, reply: dict, nonce: str | None) -> None:
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if nonce:  # a refused request gets no signature: the asker may not hold our key
            self.send_header(pairkey.HEADER_SIGNATURE, pairkey.sign_answer(self.server.link.key, nonce, status, data))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        link: PeerLink = self.server.link
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_REQUEST:
            link.refused(self.client_address[0], say("peer.refused.too_large"))
            return self._answer(413, {"error": "request too large"}, None)
        body = self.rfile.read(length)
        why = link.check_request(self.client_address[0], method, self.path, body, self.headers)
        if why:
            return self._answer(401, {"error": f"refused: {why}"}, None)
        nonce = self.headers[pairkey.HEADER_NONCE]
        try:
            reply = link.handle(method, self.path, json.loads(body or b"{}"))
            status = 200
        except (LookupError, KeyError) as exc:
            status, reply = 404, {"error": str(exc)}
        except (Refused, BadRequest, ValueError) as exc:
            status, reply = 409, {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001  the peer still gets an answer; the log the traceback
            traceback.print_exc()
            status, reply = 500, {"error": f"internal error: {exc!r}"}
        self._answer(status, reply, nonce)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")


class PeerLink:
    """One hub's side of the pair: the listener, the sync loop and what it last saw."""

    def __init__(self, daemon, me: str, key: bytes, fallback_peers: dict[str, str] | None = None,
                 port: int | None = None):
        self.daemon, self.me = daemon, me
        self.key = key
        self.verifier = pairkey.Verifier(key)
        self.fallback, self.port = fallback_peers, port
        self.chain = Chain(daemon.history)
        self.wake = threading.Event()
        self._sync_lock = threading.Lock()
        self._server: _PeerServer | None = None
        self.listening_on: tuple[str, int] | None = None
        # What the last pass saw, for `pnsbox ha status`, the metrics and the dashboard.
        self.reachable: bool | None = None
        self.peer_state: dict | None = None
        self.split_brain: dict | None = None
        self.last_sync: float | None = None
        self.last_error: str | None = None
        self.refusals = 0
        self._refusal_audited_at = 0.0
        self._unaudited_refusals = 0
        self.last_replication: dict | None = None  # {"version", "seconds"} of the last catch-up
        self.edge_endpoints: dict[str, str] = {}  # where the active peer hears each edge (public key -> endpoint)
        self._failed: tuple[int | None, float] | None = None  # (version, monotonic time) this kernel refused

    # --- who -------------------------------------------------------------------------

    def pair(self) -> Pair | None:
        return pair_of(self.daemon.config, self.me, self.fallback, self.port)

    def role(self) -> Role:
        return local_role(self.daemon.netns)

    def active_elsewhere(self) -> str | None:
        """The active hub's name when it is not this one (this one then refuses changes)."""
        pair = self.pair()
        if pair is None:
            return None
        mine = self.role().role
        if mine == "active":
            return None
        peer_role = (self.peer_state or {}).get("role") if self.reachable else None
        return pair.peer if mine == "standby" or peer_role == "active" else None

    # --- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        threading.Thread(target=self.watch_role, args=(stop,), name="peer-role", daemon=True).start()
        while not stop.is_set():
            try:
                self.listen()
                self.sync_once()
            except Exception as exc:  # noqa: BLE001  a failed pass is retried; pnsboxd goes on
                self.last_error = f"{type(exc).__name__}: {exc}"
                print(f"pnsboxd: peer sync failed: {self.last_error}", flush=True)
            self.wake.wait(SYNC_SECONDS)
            self.wake.clear()
        self.close()

    def listen(self) -> None:
        pair = self.pair()
        where = (pair.my_address, pair.port) if pair else None
        if where == self.listening_on:
            return
        self.close()
        if where is None:
            return
        sock = socket_in(self.daemon.netns, socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
            sock.bind(where)
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        self._server = _PeerServer(sock, self)
        threading.Thread(target=self._server.serve_forever, name="peer-api", daemon=True).start()
        self.listening_on = where
        print(f"pnsboxd: HA peer API on {where[0]}:{where[1]} (peer {pair.peer} at {pair.peer_address})", flush=True)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server, self.listening_on = None, None

    def notify_change(self) -> None:
        """Something changed here: the peer syncs now, not at its next pass."""
        if self.pair() is None:
            return

        def nudge():
            with contextlib.suppress(OSError, PeerError, ValueError, http.client.HTTPException):
                self._call("POST", "/peer/nudge", {})  # unreachable: it catches up when it returns

        threading.Thread(target=nudge, name="peer-nudge", daemon=True).start()

    # --- asking the peer -------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float = PEER_TIMEOUT):
        pair = self.pair()
        if pair is None:
            raise Unreachable("no HA peer is known yet")
        data = json.dumps(body).encode() if body is not None else b""
        headers = pairkey.sign_request(self.key, method, path, data)
        connection = _PeerConnection(self.daemon.netns, pair.my_address, pair.peer_address, pair.port, timeout)
        try:
            connection.request(method, path, data, {**headers, "Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read(MAX_ANSWER + 1)
            signature = response.getheader(pairkey.HEADER_SIGNATURE)
        finally:
            connection.close()
        if not pairkey.answer_is_genuine(self.key, headers[pairkey.HEADER_NONCE], response.status, answer, signature):
            said = answer[:200].decode(errors="replace")
            raise PeerError(f"{pair.peer} refused us or does not hold our pair key (HTTP {response.status}: {said})")
        reply = json.loads(answer or b"{}")
        if response.status != 200:
            raise PeerError(f"{pair.peer}: {reply.get('error', response.status)}")
        return reply

    # --- answering the peer ----------------------------------------------------------

    def check_request(self, client: str, method: str, path: str, body: bytes, headers) -> str | None:
        pair = self.pair()
        if pair is None:
            why = say("peer.refused.no_pair")
        elif client != pair.peer_address:
            why = say("peer.refused.not_peer", client=client, peer=pair.peer, address=pair.peer_address)
        else:
            why = self.verifier.check(method, path, body, headers)
        if why:
            self.refused(client, why)
        return why

    def refused(self, client: str, why: str) -> None:
        """Counted always; audited at most once a minute, with how many came since."""
        self.refusals += 1
        self._unaudited_refusals += 1
        now = time.monotonic()
        if now - self._refusal_audited_at >= AUDIT_REFUSALS_EVERY or self._refusal_audited_at == 0.0:
            count, self._unaudited_refusals, self._refusal_audited_at = self._unaudited_refusals, 0, now
            self.daemon.audit.append("peer-refused", f"peer:{client}", f"tcp:{client}",
                                     say("audit.peer-refused", why=why, count=count))

    def handle(self, method: str, path: str, body: dict) -> dict:
        if (method, path) == ("GET", "/peer/state"):
            return self.state()
        if method == "GET" and path.startswith("/peer/versions/"):
            number = int(path.rsplit("/", 1)[1])
            return dict(self.daemon.history.get(number).__dict__)
        if (method, path) == ("POST", "/peer/nudge"):
            self.wake.set()
            return {}
        if (method, path) == ("POST", "/peer/resolve"):
            return self._resolved_by_peer(body)
        if (method, path) == ("GET", "/peer/edges"):
            return edge_sync.seal(self.key, edge_sync.snapshot(self.daemon.state_dir))
        raise LookupError(f"no such peer endpoint: {method} {path}")

    def state(self) -> dict:
        return {"hub": self.me, "role": self.role().role, "chain": self.chain.get(),
                "edges": edge_sync.digest(edge_sync.snapshot(self.daemon.state_dir)),
                "edge_endpoints": observe_wg.endpoints(self.daemon.netns, iface) if (iface := self._wg()) else {},
                **asdict(RunState(self.daemon.running(), self.daemon.confirmed(), self.daemon.pending_record()))}

    # --- one pass ----------------------------------------------------------------------

    def sync_once(self) -> str | None:
        with self._sync_lock:
            return self._sync()

    def _sync(self) -> str | None:
        pair = self.pair()
        if pair is None:
            return None
        try:
            theirs = self._call("GET", "/peer/state")
        except (OSError, PeerError, ValueError, http.client.HTTPException) as exc:
            self.reachable, self.last_error = False, str(exc)
            return None
        self.reachable, self.peer_state, self.last_sync, self.last_error = True, theirs, time.time(), None
        mine = self.chain.get()
        their_chain = [(int(n), str(fp)) for n, fp in theirs.get("chain", [])]
        found = relation(mine, their_chain)
        step = next_step(found.kind, self.role().role, theirs.get("role", "unknown"))
        if step == "split-brain":
            return self._report_split_brain(found.fork, pair)
        if self.split_brain is not None:
            self.daemon.audit.append("split-brain-ended", "pnsboxd", f"peer:{pair.peer}",
                                     say("audit.split-brain-ended", me=self.me, peer=pair.peer))
            self.split_brain = None
        event, state = None, RunState.of(theirs)
        if step in ("catch-up", "follow") and self._failed is not None and self._failed[0] == state.running \
                and time.monotonic() - self._failed[1] < RETRY_FAILED_SECONDS:
            return None  # refused by this kernel a moment ago (audited then): not again every second
        try:
            if step == "catch-up":
                started = time.monotonic()
                records = self._fetch(found.missing, dict(their_chain), mine[-1][1] if mine else "")
                event = self.daemon.adopt(records, state, pair.peer)
                self.last_replication = {"version": found.missing[-1], "seconds": time.monotonic() - started,
                                         "time": time.time()}
            elif step == "follow":
                event = self.daemon.follow(state, pair.peer)
        except (KernelError, ChecksFailed, ConfigError, PlanError) as exc:
            self._failed, self.last_error = (state.running, time.monotonic()), f"version {state.running}: {exc}"
            print(f"pnsboxd: could not run {pair.peer}'s version {state.running} here: {exc}", flush=True)
            return None
        self._failed = None
        if event:
            print(f"pnsboxd: {event}", flush=True)
        self._sync_edges(theirs, pair)
        return event

    def _wg(self) -> str | None:
        """The hub's WireGuard interface, when the running config has one."""
        config = self.daemon.config
        return config.site.wireguard.interface if config is not None and config.site.wireguard else None

    def _sync_edges(self, theirs: dict, pair: Pair) -> None:
        """Take the active peer's edge book and hub key when they differ from ours, and put its
        peers into this hub's kernel (with the endpoints it sees them at): after a failover the
        edges' tunnels land here."""
        if theirs.get("role") != "active" or self.role().role == "active" or "edges" not in theirs:
            return
        if theirs["edges"] != edge_sync.digest(edge_sync.snapshot(self.daemon.state_dir)):
            snap = edge_sync.unseal(self.key, self._call("GET", "/peer/edges"))
            with self.daemon.lock:
                edge_sync.adopt(self.daemon.state_dir, snap)
                self.daemon.tunnels_now()
            print(f"pnsboxd: took {pair.peer}'s edge book and WireGuard key", flush=True)
        # Kept, not put into the kernel: a standby that knew where the edges are would send them
        # its keepalives, from its own address NATed to the moving one, and the conntrack entry
        # left behind would clash with its first packets as the active hub (NAT moves their port).
        self.edge_endpoints = dict(theirs.get("edge_endpoints") or {})

    def watch_role(self, stop: threading.Event) -> None:
        """Becoming active, give the edges' peers the endpoints the active peer last heard them at
        and ask every edge for a handshake at once (edge_sync.tunnel_addresses): the edges go on with their session with the dead hub, which this hub cannot read, and
        would start a new one only after 15 s of silence; a packet from here into the tunnel
        makes WireGuard start one now, at the endpoint the active hub heard. Checked often and
        apart from the sync pass, which may be waiting on a peer that just died; asked again
        over the first two seconds, in case the routes through the moving links were not back."""
        last = None
        while not stop.wait(ROLE_WATCH_SECONDS):
            with contextlib.suppress(Exception):  # a failed look is retried at the next one
                if not (iface := self._wg()):  # no tunnels: nothing to look at
                    last = None
                    continue
                now = self.role().role
                if now == "active" and last not in (None, "active"):
                    wg.fresh_peers(self.daemon.netns, iface, self.edge_endpoints)
                    addresses = edge_sync.tunnel_addresses(self.daemon.state_dir)
                    for pause in HANDSHAKE_ASKS:
                        time.sleep(pause)
                        wg.ask_handshakes(self.daemon.netns, addresses)
                    print(f"pnsboxd: active now: asked {len(addresses)} edge(s) for a handshake", flush=True)
                last = now

    def _fetch(self, numbers: list[int], their_chain: dict[int, str], previous: str) -> list[dict]:
        """The missing versions, oldest first, each checked against the chain the peer showed."""
        records = []
        for number in numbers:
            record = self._call("GET", f"/peer/versions/{number}", timeout=VERSION_TIMEOUT)
            previous = fingerprint(previous, record.get("id"), record.get("parent"), record.get("files") or {})
            if record.get("id") != number or previous != their_chain.get(number):
                raise PeerError(say("peer.version_mismatch", version=number))
            records.append(record)
        return records

    def _report_split_brain(self, fork: int, pair: Pair) -> str | None:
        if self.split_brain is not None and self.split_brain["fork"] == fork:
            return None
        mine = self._summary(lambda: self.daemon.history.get(fork).__dict__)
        theirs = self._summary(lambda: self._call("GET", f"/peer/versions/{fork}", timeout=VERSION_TIMEOUT))
        self.split_brain = {"fork": fork, "since": time.time(), "mine": mine, "theirs": theirs,
                            "peer_latest": (self.peer_state or {}).get("chain", [[None]])[-1][0] if
                            (self.peer_state or {}).get("chain") else None}
        detail = say("audit.split-brain", me=self.me, peer=pair.peer, fork=fork, mine=_said(mine),
                     theirs=_said(theirs))
        self.daemon.audit.append("split-brain", "pnsboxd", f"peer:{pair.peer}", detail)
        print(f"pnsboxd: {detail}", flush=True)
        return detail

    @staticmethod
    def _summary(read) -> dict | None:
        try:
            record = read()
        except (OSError, KeyError, PeerError, ValueError, http.client.HTTPException):
            return None
        return {key: record.get(key) for key in ("id", "author", "time", "message")}

    # --- ending a split brain --------------------------------------------------------------

    def resolve(self, keep: str, author: str, where: str) -> dict:
        """An admin keeps KEEP's side: the other hub sets its versions from the fork on aside
        (history/split-brain-*/, never deleted) and takes KEEP's, as a catch-up."""
        pair = self.pair()
        if pair is None:
            raise Refused(say("ha.resolve.no_peer"))
        if keep not in (pair.me, pair.peer):
            raise BadRequest(say("ha.resolve.keep_which", me=pair.me, peer=pair.peer))
        with self._sync_lock:
            split = self.split_brain
            if split is None:
                raise Refused(say("ha.resolve.no_split_brain"))
            if keep == self.me:
                reply = self._call("POST", "/peer/resolve", {"keep": self.me, "fork": split["fork"], "author": author})
                self.daemon.audit.append("split-brain-resolved", author, where,
                                         say("audit.split-brain-resolved.kept", me=self.me, fork=split["fork"],
                                             peer=pair.peer, aside=reply["aside"]))
                self.split_brain = None
                return {"kept": self.me, "aside": reply["aside"], "on": pair.peer}
            self._call("GET", "/peer/state")  # the kept side must be there to catch up from
            aside = self._set_aside(split["fork"], pair.peer, author, where)
            self.split_brain = None
            self._sync()
        return {"kept": pair.peer, "aside": aside, "on": self.me}

    def _resolved_by_peer(self, body: dict) -> dict:
        keep, fork = body.get("keep"), body.get("fork")
        pair = self.pair()
        if pair is None or keep != pair.peer:
            raise BadRequest(say("ha.resolve.own_side_only"))
        with self._sync_lock:
            if self.split_brain is None or self.split_brain["fork"] != fork:
                raise Refused(say("ha.resolve.no_such_split_brain", me=self.me, fork=fork))
            aside = self._set_aside(fork, pair.peer, str(body.get("author") or "admin"), f"peer:{pair.peer}")
            self.split_brain = None
        self.wake.set()  # catch up at once
        return {"aside": aside}

    def _set_aside(self, fork: int, kept: str, author: str, where: str) -> str:
        label = f"split-brain-{time.strftime('%Y%m%dT%H%M%S')}"
        aside = self.daemon.set_aside(fork, label)
        self.daemon.audit.append("split-brain-resolved", author, where,
                                 say("audit.split-brain-resolved.aside", kept=kept, fork=fork, me=self.me,
                                     label=label))
        return str(Path("history") / aside.name)

    # --- what the pair looks like ------------------------------------------------------

    def status(self) -> dict:
        try:
            pair = self.pair()
        except ValueError as exc:
            return {"enabled": True, "me": self.me, "error": str(exc)}
        role = self.role()
        theirs = self.peer_state or {}
        chain = theirs.get("chain") or []
        latest = self.daemon.history.ids()
        return {"enabled": True, "me": self.me, "peer": pair.peer if pair else None,
                "address": pair.my_address if pair else None, "peer_address": pair.peer_address if pair else None,
                "port": pair.port if pair else None, "listening": self.listening_on is not None,
                "role": role.role, "transitions": role.transitions,
                "running": self.daemon.running(), "confirmed": self.daemon.confirmed(),
                "pending": self.daemon.pending_record(),
                "latest": latest[-1] if latest else None,
                "reachable": self.reachable, "peer_role": theirs.get("role") if self.reachable else None,
                "peer_running": theirs.get("running"), "peer_confirmed": theirs.get("confirmed"),
                "peer_latest": chain[-1][0] if chain else None, "peer_pending": theirs.get("pending"),
                "last_sync": self.last_sync, "last_error": self.last_error, "split_brain": self.split_brain,
                "refused_requests": self.refusals, "last_replication": self.last_replication}


def _said(summary: dict | None) -> str:
    if not summary:
        return say("ha.summary.unreadable")
    return say("ha.summary.version", version=summary["id"], author=summary["author"],
               time=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(summary["time"] or 0)), message=summary["message"])
