"""The engine: raw IP packets in, a verdict per flow out.

Per packet: parse the IP/TCP/UDP headers, find the flow. A flow with a verdict answers at
once (one dict probe). Otherwise its payload goes to the parser its ports and first bytes
point at; a name read from the flow decides it ("inspected"). When inspection gives up (the
payload is no protocol we read, or `inspect_limit` packets went by) the fallbacks decide, in
order: a name DNS gave the server address ("dns"), the catalog's address ranges
("address"), its well-known ports ("port"), else the application is unknown ("none").

The kernel queues a flow's packets only until it carries a mark, and at most a few: give
the engine the same bound as `inspect_limit` so that every queued flow ends with a verdict.
"""

from __future__ import annotations

from typing import Any

from . import bittorrent, dns, ftp, http, ike, openvpn, quic, rtp, sip, ssh, stun, tls, wireguard
from .catalog import PROTOCOL_APPS, UNKNOWN_APP, App, Catalog, default_catalog
from .expect import CALL_SECONDS, FTP_SECONDS, Expectations
from .flows import Flow, FlowTable
from .lists import Lists
from .names import NameMemory
from .packet import TCP, TCP_ACK, TCP_SYN, UDP, parse
from .verdict import ADDRESS, DNS, INSPECTED, NONE, PORT, Verdict
from .wire import MORE

_DNS_PORT, _MDNS_PORT = 53, 5353
_MAX_STREAM = 1 << 16  # bytes of one TCP side kept while a message is incomplete
_SYN_ACK = TCP_SYN | TCP_ACK
_TLS_FIRST_BYTES = frozenset({20, 21, 22, 23})
_PROTOCOL_APPS = frozenset(PROTOCOL_APPS)
_PROTO_OF = {"dns": UDP, "mdns": UDP, "quic": UDP, "http": TCP, "tls": TCP, "ssh": TCP}
# protocols that carry many applications: their port says nothing about which one
# payload protocols that are their own application
_SELF_NAMED = frozenset({"bittorrent", "openvpn", "ftp"})
_CARRIERS = frozenset({"http", "tls", "quic", "stun"})
# first bytes a parser can claim (so an unknown datagram is not handed to every parser)
_OPENVPN_FIRST = frozenset({0x08, 0x10, 0x38, 0x40, 0x50})   # hard resets, key id 0
_WIREGUARD_SIZES = frozenset({148, 92, 64})
_IKE_VERSIONS = frozenset({0x10, 0x20})
_SIP_FIRST = frozenset(b"IRABCOPSNUM")
# 0x00-0x3F: STUN, WireGuard, uTP answers, OpenVPN, a UDP tracker; then OpenVPN, a uTP SYN,
# a bencoded DHT message, SIP, RTP
_CLAIMED = tuple(b < 0x40 or b in _OPENVPN_FIRST or b == 0x41 or b == 0x64 or b in _SIP_FIRST
                 or 0x80 <= b < 0xC0 for b in range(256))
_FTP_WATCH = 256   # packets of an FTP control flow read for PORT/PASV after its verdict
# what _inspect tells packet()
_DECIDED, _WAIT, _GIVE_UP = 0, 1, 2


class Stats:
    """Counters for metrics."""

    __slots__ = ("packets", "inspected", "flows", "errors", "by_confidence")

    def __init__(self):
        self.packets = 0
        self.inspected = 0      # packets whose payload went to a parser
        self.flows = 0
        self.errors = 0         # parser exceptions (a bug; the flow falls back, traffic flows)
        self.by_confidence = dict.fromkeys((INSPECTED, DNS, ADDRESS, PORT, NONE), 0)


class Engine:
    def __init__(self, catalog: Catalog | None = None, max_flows: int = 65536,
                 inspect_limit: int = 12, names: NameMemory | None = None):
        self.catalog = catalog or default_catalog()
        self.flows = FlowTable(max_flows)
        self.names = names if names is not None else NameMemory()
        self.inspect_limit = inspect_limit
        self.stats = Stats()
        # the flow key of the last packet (None if it had none): the worker's glue times and
        # counts flows by it without parsing the packet a second time
        self.last_key: tuple | None = None
        self._protocol_apps = {name: self.catalog.apps[name] for name in PROTOCOL_APPS}
        self.expected = Expectations()
        self._announced = self.expected.entries
        self.lists = Lists([])   # domain lists as categories; replaced whole on a reload
        self._ftp = self.catalog.apps.get("ftp")

    @property
    def lists(self) -> Lists:
        return self._lists

    @lists.setter
    def lists(self, value: Lists) -> None:
        self._lists = value
        self._listed = value.tables  # what _done tests: a plain list, no Python call

    def packet(self, data: bytes, now: float = 0.0) -> Verdict | None:
        """Classify one IP packet; the flow's verdict once known, else None."""
        self.stats.packets += 1
        parsed = parse(data)
        if parsed is None:
            self.last_key = None
            return None
        proto, src, sport, dst, dport, start, end, flags, seq = parsed
        if src < dst or (src == dst and sport <= dport):
            key = (proto, src, sport, dst, dport)
        else:
            key = (proto, dst, dport, src, sport)
        self.last_key = key
        flow = self.flows.get(key)
        if flow is None:
            # the sender of the first packet opened the flow, unless that is a SYN-ACK
            flow = Flow(dst, dport) if flags & _SYN_ACK == _SYN_ACK else Flow(src, sport)
            self.flows.add(key, flow)
            self.stats.flows += 1
            if proto != TCP and proto != UDP:
                app = self.catalog.by_protocol(proto)
                return self._done(flow, app or UNKNOWN_APP, PORT if app else NONE, None, None)
            if self._announced:  # (the dict itself: its truth test costs no Python call)
                expected = (self.expected.find(proto, dst, dport, now)
                            or self.expected.find(proto, src, sport, now))
                if expected is not None:
                    if not expected.media:
                        self._payload(flow, expected.app, expected.protocol + "-data")
                        return flow.verdict
                    flow.expected = expected
        elif flow.verdict is not None:
            if flow.watch and end > start:
                self._watch(flow, data[start:end], proto, src, now)
            return flow.verdict

        flow.packets += 1
        from_client = sport == flow.client_port and src == flow.client
        if end > start:
            self.stats.inspected += 1
            try:
                server = (dst, dport) if from_client else (src, sport)
                outcome = self._inspect(flow, proto, data[start:end], seq, from_client,
                                        sport, dport, server, now)
            except Exception:  # a parser bug must not stop traffic: count it and fall back
                self.stats.errors += 1
                outcome = _GIVE_UP
            if outcome == _DECIDED:
                return flow.verdict
            if outcome == _GIVE_UP:
                return self._fall_back(flow, key, now)
        if flow.packets >= self.inspect_limit:
            return self._fall_back(flow, key, now)
        return None

    def conclude(self, now: float = 0.0) -> None:
        """Decide every flow still undecided, as if inspection had given up on it (at the
        end of a capture; or for flows the kernel stopped queueing)."""
        for key, flow in self.flows.items():
            if flow.verdict is None:
                self._fall_back(flow, key, now)

    # --- inspection ---

    def _inspect(self, flow: Flow, proto: int, payload: bytes, seq: int, from_client: bool,
                 sport: int, dport: int, server: tuple[bytes, int], now: float) -> int:
        if proto == UDP:
            return self._udp(flow, payload, from_client, sport, dport, server, now)
        return self._tcp(flow, payload, seq, from_client, sport, dport, server, now)

    def _udp(self, flow: Flow, payload: bytes, from_client: bool, sport: int, dport: int,
             server: tuple[bytes, int], now: float) -> int:
        if sport == _DNS_PORT or dport == _DNS_PORT:
            message = dns.parse(payload)
            if message is not None:
                return self._dns(flow, message, server, now)
        elif sport == _MDNS_PORT or dport == _MDNS_PORT:
            message = dns.parse(payload, mdns=True)
            if message is not None:
                return self._decide(flow, "mdns", message.name, server, now)
        if quic.recognised(payload):
            if from_client:
                if flow.quic is None:
                    flow.quic = quic.ClientInitials()
                found = flow.quic.feed(payload)
            else:
                found = ""  # the server's packets tell the protocol, not the name
            if found is MORE:
                return _WAIT
            if found is not None:
                return self._found(flow, "quic", found, from_client, server, now)
        size = len(payload)
        if _CLAIMED[payload[0]] or flow.expected is not None or size >= 28 and (
                payload[17] in _IKE_VERSIONS or size >= 32 and payload[21] in _IKE_VERSIONS):
            outcome = self._udp_payload(flow, payload, from_client, server, now)
            if outcome is not None:
                return outcome
        return _GIVE_UP if flow.pending is None else _WAIT

    def _udp_payload(self, flow: Flow, payload: bytes, from_client: bool, server: tuple[bytes, int],
                     now: float) -> int | None:
        """The UDP protocols read from their own structure, on any port. Each parser runs only
        when the first bytes could be its protocol's: an unknown datagram costs a few tests."""
        first = payload[0]
        size = len(payload)
        if not _CLAIMED[first]:  # no parser starts with this byte: only IKE (a random SPI) or media
            if size >= 28 and (payload[17] in _IKE_VERSIONS or size >= 32 and payload[21] in _IKE_VERSIONS) \
                    and ike.message(payload):
                return self._payload(flow, "ipsec")
            if flow.expected is not None and rtp.media(payload):
                return self._call(flow, "rtp", flow.expected.app, server, now)
            return None
        if first < 0x40:
            types = stun.attributes(payload) if size >= 20 else None
            if types is not None:
                return self._call(flow, "stun", stun.application(types), server, now)
            if size in _WIREGUARD_SIZES and wireguard.handshake(payload):
                return self._payload(flow, "wireguard")
            if first == 0x21 and flow.probe is not None and flow.probe[0] == "utp" \
                    and flow.probe[2] != from_client and bittorrent.utp_answers(payload, flow.probe[1]):
                return self._payload(flow, "bittorrent")
        if first in _OPENVPN_FIRST and openvpn.reset(payload):
            return self._payload(flow, "openvpn")
        expected = flow.expected
        if expected is not None and rtp.media(payload):
            return self._call(flow, "rtp", expected.app, server, now)
        if size >= 28 and (payload[17] in _IKE_VERSIONS or size >= 32 and payload[21] in _IKE_VERSIONS) \
                and ike.message(payload):
            return self._payload(flow, "ipsec")
        if (first == 0x64 or first == 0) and bittorrent.udp_message(payload):  # 'd': bencoded
            return self._payload(flow, "bittorrent")
        if first in _SIP_FIRST and sip.message(payload):
            for address, port in sip.media(payload):
                self.expected.add(UDP, address, port, "rtp", "sip", True, CALL_SECONDS, now)
            return self._payload(flow, "sip")
        if first == 0x41:
            syn = bittorrent.utp_syn(payload)
            if syn is not None:
                flow.probe = ("utp", syn, from_client)
                return _WAIT
        elif 0x80 <= first < 0xC0:
            found = rtp.header(payload)
            if found is not None:
                probe = flow.probe
                if probe is not None and probe[0] == "rtp" and probe[2] == from_client \
                        and rtp.follows(probe[1], found):
                    return self._call(flow, "rtp", None, server, now)
                flow.probe = ("rtp", found, from_client)
                return _WAIT
        return None

    def _tcp(self, flow: Flow, payload: bytes, seq: int, from_client: bool, sport: int, dport: int,
             server: tuple[bytes, int], now: float) -> int:
        stream = flow.stream
        data: bytes | bytearray
        if stream is not None:
            if from_client != flow.stream_from_client:
                return _WAIT  # the other side talks while we wait for the rest of a message
            if not self._append(flow, payload, seq):
                return _WAIT
            data = stream
        else:
            data = payload
        if sport == _DNS_PORT or dport == _DNS_PORT:
            outcome = self._dns_over_tcp(flow, data, server, now)
            if outcome is not None:
                return outcome
        protocol, found = _tcp_protocol(data)
        if found is MORE:
            if stream is None:
                flow.stream = bytearray(payload)
                flow.stream_from_client = from_client
                flow.next_seq = (seq + len(payload)) & 0xFFFFFFFF
            elif len(stream) > _MAX_STREAM:
                return _GIVE_UP
            return _WAIT
        flow.stream = None
        if found is None:
            return _GIVE_UP if flow.pending is None else _WAIT
        if protocol in _SELF_NAMED:
            return self._payload(flow, protocol)
        if protocol == "stun":
            return self._call(flow, "stun", stun.application(found), server, now)
        return self._found(flow, protocol, found, from_client, server, now)

    @staticmethod
    def _append(flow: Flow, payload: bytes, seq: int) -> bool:
        """Add an in-order segment to the stream; False for one out of order."""
        stream = flow.stream
        ahead = (flow.next_seq - seq) & 0xFFFFFFFF  # bytes of this segment we already have
        if stream is None or ahead >= len(payload) or ahead > 0x7FFFFFFF:
            return False  # a retransmission, or a gap before it
        stream.extend(payload[ahead:])  # in place: _tcp reads the same bytearray
        flow.next_seq = (seq + len(payload)) & 0xFFFFFFFF
        return True

    def _found(self, flow: Flow, protocol: str, name: str, from_client: bool, server: tuple[bytes, int],
               now: float) -> int:
        """A parser recognised `protocol`. A name decides, and so does the client's side
        without one (a ClientHello without SNI); the server's side only tells the protocol
        while we wait for the client's."""
        if name or from_client:
            return self._decide(flow, protocol, name, server, now)
        if flow.pending is None:
            flow.pending = protocol
        return _WAIT

    def _dns(self, flow: Flow, message: dns.Message, server: tuple[bytes, int], now: float) -> int:
        for address, ttl in message.addresses:
            self.names.learn(address, message.name, ttl, now)
        # wait until every question (resolvers ask for A and AAAA on one socket) has its
        # answer, so the addresses are learned before the kernel stops showing us the flow
        flow.questions += -1 if message.response else 1
        if flow.questions <= 0:
            return self._decide(flow, "dns", message.name or flow.pending_name, server, now)
        if flow.pending_name is None:
            flow.pending, flow.pending_name = "dns", message.name
        return _WAIT

    def _dns_over_tcp(self, flow: Flow, data: bytes | bytearray, server: tuple[bytes, int],
                      now: float) -> int | None:
        if len(data) < 14:
            return None
        message = dns.parse(data[2:2 + ((data[0] << 8) | data[1])])
        return None if message is None else self._dns(flow, message, server, now)

    def _watch(self, flow: Flow, payload: bytes, proto: int, sender: bytes, now: float) -> None:
        """A decided FTP control flow: where its next data connection goes."""
        flow.watch -= 1
        endpoint = ftp.data_endpoint(payload, sender)
        if endpoint is not None and flow.verdict is not None:
            self.expected.add(proto, endpoint[0], endpoint[1], flow.verdict.app, "ftp", False,
                              FTP_SECONDS, now)

    # --- verdicts ---

    def _payload(self, flow: Flow, app_name: str, protocol: str | None = None) -> int:
        """A protocol that is its own application (BitTorrent, OpenVPN, ...): no name, port
        or address range can say better."""
        app = self.catalog.apps.get(app_name, UNKNOWN_APP)
        self._done(flow, app, INSPECTED, None, protocol or app_name)
        return _DECIDED

    def _call(self, flow: Flow, protocol: str, hint: str | None, server: tuple[bytes, int], now: float) -> int:
        """STUN or RTP: whose call? What its attributes say, else what an earlier exchange
        on the same socket said, else the server's DNS name or address range. The socket
        of an identified call is remembered for the calls' other flows (ICE, media)."""
        catalog = self.catalog
        app = catalog.apps.get(hint) if hint else None
        confidence, name = INSPECTED, None
        if app is None and flow.expected is not None:
            app = catalog.apps.get(flow.expected.app)
        if app is None:
            name = self.names.name_of(server[0], now)
            app = catalog.by_name(name) if name else None
            confidence = DNS
            if app is None:
                app, confidence = catalog.by_address(server[0]), ADDRESS
            if app is None:
                app, confidence = catalog.apps.get(protocol, UNKNOWN_APP), INSPECTED
        if app.name != protocol and flow.expected is None:
            self.expected.add(UDP, flow.client, flow.client_port, app.name, protocol, True,
                              CALL_SECONDS, now)
        self._done(flow, app, confidence, name, protocol)
        return _DECIDED


    def _decide(self, flow: Flow, protocol: str, name: str | None, server: tuple[bytes, int], now: float) -> int:
        """Verdict for a flow whose protocol inspection recognised: its name, else a service
        port (TLS on 993 is IMAP), else what DNS said of the server address (when the flow
        carried no name), else the server's address range, else the protocol."""
        name = name or None
        catalog = self.catalog
        if protocol != "dns" and protocol != "mdns":
            app = catalog.by_name(name) if name and protocol != "ssh" else None
            if app is not None:
                self._done(flow, app, INSPECTED, name, protocol)
                return _DECIDED
            app = catalog.by_port(_PROTO_OF[protocol], server[1])
            if app is not None and app.name not in _PROTOCOL_APPS:
                self._done(flow, app, PORT, name, protocol)
                return _DECIDED
            learned = self.names.name_of(server[0], now) if name is None else None
            app = catalog.by_name(learned) if learned else None
            if app is not None:
                self._done(flow, app, DNS, learned, protocol)
                return _DECIDED
            app = catalog.by_address(server[0])
            if app is not None:
                self._done(flow, app, ADDRESS, name, protocol)
                return _DECIDED
        self._done(flow, self._protocol_apps[protocol], INSPECTED, name, protocol)
        return _DECIDED

    def _fall_back(self, flow: Flow, key: tuple, now: float) -> Verdict:
        """Verdict for a flow inspection gave up on. A service's well-known port wins (NTP
        to time.android.com is NTP); then what DNS said of the server address, its address
        range, and last the port of a protocol that carries many applications (TLS, ...)."""
        proto, low, low_port, high, high_port = key
        if low == flow.client and low_port == flow.client_port:
            server, server_port, client_port = high, high_port, low_port
        else:
            server, server_port, client_port = low, low_port, high_port
        if flow.pending is not None:
            self._decide(flow, flow.pending, flow.pending_name, (server, server_port), now)
            decided = flow.verdict
            assert decided is not None  # _decide always decides
            return decided
        catalog = self.catalog
        port_app = catalog.by_port(proto, server_port) or catalog.by_port(proto, client_port)
        if port_app is not None and port_app.name not in _CARRIERS:
            return self._done(flow, port_app, PORT, None, None)
        learned = self.names.name_of(server, now)
        app = catalog.by_name(learned) if learned else None
        if app is not None:
            return self._done(flow, app, DNS, learned, None)
        app = catalog.by_address(server)
        if app is not None:
            return self._done(flow, app, ADDRESS, learned, None)
        if port_app is not None:
            return self._done(flow, port_app, PORT, learned, None)
        return self._done(flow, UNKNOWN_APP, NONE, learned, None)

    def _done(self, flow: Flow, app: App, confidence: str, name: str | None, protocol: str | None) -> Verdict:
        category, category_id = app.category, app.category_id
        if name and self._listed:
            # a listed name takes the list's category; the application stays what it is
            category, category_id = self._lists.category_of(name) or (category, category_id)
        verdict = Verdict(app.name, category, confidence, name, protocol, app.id, category_id)
        flow.done(verdict)
        if app is self._ftp and protocol != "ftp-data":
            flow.watch = _FTP_WATCH
        self.stats.by_confidence[confidence] += 1
        return verdict


def _tcp_protocol(data: bytes | bytearray) -> tuple[str, Any]:
    """Which parser claims these TCP bytes: (protocol, its answer); answer None if none.
    The answer's type is the parser's: a name, True, STUN's attribute types, MORE."""
    first = data[0]
    if first in _TLS_FIRST_BYTES:
        found = tls.record_sni(data)
        if found is not None:
            return "tls", found
    if first == 0x53:  # 'S'
        found = ssh.banner(data)
        if found is not None:
            return "ssh", found
    elif first == 0x13:
        found = bittorrent.handshake(data)
        if found is not None:
            return "bittorrent", found
    elif first < 0x06:  # a length prefix: OpenVPN records
        found = openvpn.tcp_reset(data)
        if found is not None:
            return "openvpn", found
    if first < 0x40:
        found = stun.tcp_message(data)
        if found is not None:
            return "stun", found
    found = http.request_host(data)
    if found is not None and found is not MORE and bittorrent.tracker_request(bytes(data[:2048])):
        return "bittorrent", True
    if found is None and first == 0x32 and ftp.banner(bytes(data[:256])):
        return "ftp", True
    return "http", found
