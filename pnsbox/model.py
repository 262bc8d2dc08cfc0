"""The typed, immutable model of a site config (DESIGN.md §5).

Field types here parse and check single values (addresses, rates, ports);
checks that need more than one value at a time live in validate.py.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Annotated, Literal, NamedTuple

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from .wording import say

TIMEZONES = {"Asia/Jakarta": 7, "Asia/Makassar": 8, "Asia/Jayapura": 9}  # hours east of UTC
GROUP_OPDS = "opds"
ZONE_INTERNET = "internet"
ZONE_BOX = "box"
RESERVED_ZONES = {GROUP_OPDS, ZONE_INTERNET, ZONE_BOX}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# --- single values -----------------------------------------------------------

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit|tbit)\s*$", re.IGNORECASE)
_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12}


def parse_rate(value) -> int:
    """'50mbit' -> 50_000_000 bits per second (tc's decimal units)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(say("config.rate.not_text"))
    if isinstance(value, int):
        raise ValueError(say("config.rate.no_unit", value=value))
    match = _RATE.match(value)
    if not match:
        raise ValueError(say("config.rate.invalid", value=repr(value)))
    bits = int(float(match.group(1)) * _RATE_UNITS[match.group(2).lower()])
    if bits < 8000:
        raise ValueError(say("config.rate.too_small", value=repr(value)))
    return bits


def format_rate(bits: int) -> str:
    """50_000_000 -> '50mbit', the config's own notation (to 3 significant decimals)."""
    for unit, size in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= size:
            return f"{round(bits / size, 3):g}{unit}"
    return f"{bits}bit"


Rate = Annotated[int, BeforeValidator(parse_rate),
                 WithJsonSchema({"type": "string", "pattern": _RATE.pattern.replace("(?:", "(")})]


class PortRange(NamedTuple):
    protocol: str
    first: int
    last: int

    def __str__(self) -> str:
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.protocol}/{ports}"


_PORT = re.compile(r"^(tcp|udp)/(\d{1,5})(?:-(\d{1,5}))?$")


def parse_port(value) -> PortRange:
    """'tcp/443' or 'udp/5000-5100' -> PortRange."""
    if isinstance(value, PortRange):
        return value
    match = _PORT.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(say("config.port.invalid", value=repr(value)))
    first = int(match.group(2))
    last = int(match.group(3) or first)
    if not 1 <= first <= last <= 65535:
        raise ValueError(say("config.port.range", value=repr(value)))
    return PortRange(match.group(1), first, last)


Port = Annotated[PortRange, BeforeValidator(parse_port),
                 WithJsonSchema({"type": "string", "pattern": _PORT.pattern})]


def _as_list(value):
    return [value] if isinstance(value, (str, int)) else value


def _matching(pattern: str, what: str):
    """A string type checked against `pattern`, with a message an admin can act on."""
    compiled = re.compile(pattern)

    def check(value):
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(say("config.value.not_what", value=repr(value), what=what))
        return value

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string", "pattern": pattern})]


ZoneName = _matching(r"[a-z][a-z0-9_-]{0,30}", say("config.what.zone_name"))
Ifname = _matching(r"[A-Za-z0-9_.-]{1,15}", say("config.what.interface_name"))
Clock = _matching(r"([01]\d|2[0-3]):[0-5]\d|24:00", say("config.what.clock"))
def bounded(low, high, what: str, *, whole: bool = True, above_low: bool = False):
    """A number from `low` to `high`, refused in an admin's words: "a VLAN id is 1 to 4094, not 5000"."""
    rule = (say("config.number.rule_above", what=what, low=low, high=high) if above_low
            else say("config.number.rule", what=what, low=low, high=high))
    kind = say("config.what.whole_number") if whole else say("config.what.number")

    def check(value):
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*" if whole else r"\s*\d+(\.\d+)?\s*", value):
            value = int(value) if whole else float(value)  # YAML's "121" means 121, as it always did
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise ValueError(say("config.number.not_kind", rule=rule, value=repr(value), kind=kind))
        if not (low < value if above_low else low <= value) or value > high:
            raise ValueError(say("config.number.out_of_range", rule=rule, value=str(value)))
        return value

    schema = {"type": "integer" if whole else "number", "maximum": high,
              "exclusiveMinimum" if above_low else "minimum": low}
    return Annotated[int if whole else float, BeforeValidator(check), WithJsonSchema(schema)]


def _text(low: int, high: int, what: str):
    """A string of `low` to `high` characters."""
    def check(value):
        if not isinstance(value, str) or not low <= len(value) <= high:
            raise ValueError(say("config.text.length" if isinstance(value, str) else "config.text.not_text",
                                 what=what, low=low, high=high, value=repr(value)))
        return value

    return Annotated[str, BeforeValidator(check), WithJsonSchema({"type": "string", "minLength": low,
                                                                   "maxLength": high})]


def _one_or_many(item_type, item_schema: dict):
    """A non-empty list that YAML may also give as a single item (`to: simpeg`)."""
    schema = {"anyOf": [item_schema, {"type": "array", "items": item_schema, "minItems": 1}]}
    return Annotated[list[item_type], BeforeValidator(_as_list), Field(min_length=1), WithJsonSchema(schema)]


ZoneRefs = _one_or_many(str, {"type": "string"})
# Applications and categories of rules/apps/catalog.yaml (checked against it in validate.py).
AppRefs = Annotated[list[str], BeforeValidator(_as_list),
                    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- sections ----------------------------------------------------------------


DIRECTIONS = ("download", "upload")  # download: toward the OPD; upload: from it


class Rates(NamedTuple):
    """An OPD's guarantee and ceiling in one direction (bit/s)."""

    guaranteed: int
    ceiling: int


class PipeRates(Frozen):
    """A rate for both directions (`bandwidth`), or `download` and `upload` apart (they win)."""

    bandwidth: Rate | None = None
    download: Rate | None = None
    upload: Rate | None = None

    @model_validator(mode="after")
    def _both_directions(self):
        if self.bandwidth is None and (self.download is None or self.upload is None):
            raise ValueError(say("config.pipe.rates_missing"))
        return self

    def rate(self, direction: str) -> int:
        return getattr(self, direction) or self.bandwidth


class _RateOrPipeSchema:
    """A scheduled pipe is written either as one rate or as a pipe's rates: the JSON Schema says both."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        return {"anyOf": [{"type": "string", "pattern": _RATE.pattern.replace("(?:", "(")}, handler(core_schema)]}


ScheduledPipe = Annotated[PipeRates, BeforeValidator(lambda v: {"bandwidth": v} if isinstance(v, str) else v),
                          _RateOrPipeSchema]


class Uplink(PipeRates):
    interface: Ifname
    address: IPv4Interface
    gateway: IPv4Address
    nat: Literal["masquerade", "none"] = "masquerade"
    during: dict[str, ScheduledPipe] = Field(default_factory=dict)  # schedule -> the pipe then


class Management(Frozen):
    """Who may reach the box itself (SSH, the web UI)."""

    from_: ZoneRefs = Field(alias="from")
    ports: list[Port] = Field(default_factory=lambda: [parse_port("tcp/22"), parse_port("tcp/443")],
                              min_length=1)


class Classifier(Frozen):
    """The first packets of every new flow go to pnsbox-classifier, which names the application."""

    queues: bounded(1, 16, say("config.what.queues")) = 1  # NFQUEUE numbers 0..queues-1, one per worker
    inspect_packets: bounded(2, 64, say("config.what.inspect_packets")) = 12  # both directions; then never again


class Endpoint(NamedTuple):
    address: IPv4Address
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


# WireGuard over an IPv4 underlay adds 60 bytes to every packet (IPv4 20, UDP 8, WireGuard 32).
WIREGUARD_OVERHEAD = 60
WireguardMtu = bounded(576, 9000, say("config.what.tunnel_mtu"))  # 576: the smallest datagram IPv4 promises to carry


class WireguardHub(Frozen):
    """The hub's side of the interconnect: one interface, one peer per enrolled edge."""

    listen_port: bounded(1, 65535, say("config.what.udp_port")) = 51820
    tunnel: IPv4Network  # the hub takes the first address; each edge gets one of the rest
    # Unique on the host: wireguard-go's control socket (/var/run/wireguard/NAME.sock) is global.
    interface: Ifname = "pnsbox-wg"
    underlay_mtu: bounded(636, 9000, say("config.what.underlay_mtu")) = 1500  # the path between edges and the hub

    @property
    def hub_address(self) -> IPv4Interface:
        return IPv4Interface(f"{self.tunnel.network_address + 1}/{self.tunnel.prefixlen}")

    @property
    def mtu(self) -> int:
        return self.underlay_mtu - WIREGUARD_OVERHEAD


HttpsUrl = _matching(r"https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?", say("config.what.https_url"))


PeerName = _matching(r"[a-z][a-z0-9-]{0,14}", "a hub name (a-z, 0-9 and -, at most 15, starting with a letter)")
HA_PEERS = 2  # an active/standby pair: one VRRP instance, one conntrackd channel


class HASync(Frozen):
    """The link between the two hubs: VRRP, conntrackd's state and pnsboxd's replication."""

    interface: Ifname
    prefix: bounded(8, 30, "a sync prefix length") = 24  # peers[me]/prefix on the sync interface
    port: bounded(1, 65535, "a TCP port") = 7443  # pnsboxd's peer API


class HAVirtual(Frozen):
    """Moving addresses that differ from the links' own `address` fields."""

    uplink: IPv4Interface | None = None  # the uplink's moving address (site.uplink.address then names the subnet)


class HA(Frozen):
    """Two hubs run one config: the active one holds every gateway address (VRRP through
    keepalived, one instance so they all move together), conntrackd keeps its connections
    on the standby. Each hub's own address is peers[ITS NAME] on the sync interface."""

    peers: dict[PeerName, IPv4Address]  # as written: the first is preferred (higher VRRP priority)
    sync: HASync
    virtual: HAVirtual | None = None
    preempt: bool = False  # a returning preferred hub takes over again (each takeover is a failover)
    vrid: bounded(1, 255, "a VRRP router id") = 51  # unique among VRRP routers on the same links
    advert_interval: bounded(0.1, 2, "a VRRP advert interval (seconds)", whole=False) = 0.3  # a dead peer is noticed after ~3.6 of them
    conntrack_port: bounded(1, 65535, "a UDP port") = 3780  # conntrackd's sync channel

    @property
    def sync_interface(self) -> str:
        return self.sync.interface

    @property
    def sync_prefix(self) -> int:
        return self.sync.prefix

    @property
    def port(self) -> int:
        return self.sync.port

    @property
    def virtual_uplink(self) -> IPv4Interface | None:
        return self.virtual.uplink if self.virtual else None

    def other(self, me: str) -> str:
        """The peer of `me`."""
        return next(name for name in self.peers if name != me)

    def own_address(self, me: str) -> IPv4Interface:
        return IPv4Interface(f"{self.peers[me]}/{self.sync.prefix}")


class Site(Frozen):
    name: ZoneName
    timezone: Literal["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"] = "Asia/Jakarta"
    uplink: Uplink
    management: Management | None = None
    oversubscribe: bool = False  # allow guarantees that add up to more than the pipe
    queue: Literal["auto", "fq_codel", "cake", "sfq", "pfifo"] = "auto"  # leaf queue; auto: best the kernel has
    classifier: Classifier | None = None  # on by itself when a policy or class names an app
    wireguard: WireguardHub | None = None  # needed by OPDs whose link is `wireguard`
    edges_url: HttpsUrl | None = None  # where edges enrol and fetch their config (default: the web UI's)
    ha: HA | None = None  # an active/standby pair of hubs (keepalived + conntrackd)

    @property
    def edges_port(self) -> int:
        """The TCP port of edges_url (443 unless it names one)."""
        match = re.match(r"https://[^/:]+:(\d+)", self.edges_url or "")
        return int(match.group(1)) if match else 443
    opd_limit: OpdLimit | None = None  # every OPD's, unless its own `limit` says otherwise


_UDP_ENDPOINT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")


def parse_udp_endpoint(value) -> Endpoint:
    """'198.51.100.7:51820' -> Endpoint (where the hub finds an edge)."""
    match = _UDP_ENDPOINT.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(say("config.endpoint.udp_invalid", value=repr(value)))
    port = int(match.group(2))
    if not 1 <= port <= 65535:
        raise ValueError(say("config.endpoint.port_range", value=repr(value)))
    return Endpoint(IPv4Address(match.group(1)), port)


UdpEndpoint = Annotated[Endpoint, BeforeValidator(parse_udp_endpoint),
                        WithJsonSchema({"type": "string", "pattern": _UDP_ENDPOINT.pattern})]


class WireguardLink(Frozen):
    """An OPD reached through its edge box over WireGuard (its peer on the hub's interface)."""

    keepalive: bounded(1, 3600, say("config.what.keepalive")) | None = None  # for an edge behind NAT
    mtu: WireguardMtu | None = None  # the edge's tunnel MTU (default: the hub's)
    endpoint: UdpEndpoint | None = None  # where the hub can reach the edge (default: learnt from it)
    address: IPv4Address | None = None  # its tunnel address (default: given at enrollment)
    # The OPD's internet leaves at the edge (masqueraded to its own line) instead of through
    # the hub; only the intranet goes through the tunnel. Off: the hub's policies decide all.
    breakout: bool = False


class Link(Frozen):
    """A physical interface, a VLAN on a trunk (its device is TRUNK.VLAN unless named), or a
    WireGuard peer on the hub's interface (its device: site.wireguard.interface, set by validate)."""

    interface: Ifname | None = None
    vlan: bounded(1, 4094, say("config.what.vlan_id")) | None = None
    trunk: Ifname | None = None
    address: IPv4Interface | None = None  # the box's own address on a shared service link
    wireguard: WireguardLink | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        if self.wireguard is not None:
            if self.vlan is not None or self.trunk is not None or self.address is not None:
                raise ValueError(say("config.link.wireguard_extra"))
        elif self.vlan is None and self.trunk is None:
            if self.interface is None:
                raise ValueError(say("config.link.missing"))
        elif self.vlan is None or self.trunk is None:
            raise ValueError(say("config.link.vlan_half"))
        if self.device and len(self.device) > 15:
            raise ValueError(say("config.link.device_too_long", device=repr(self.device)))
        return self

    @property
    def device(self) -> str:
        if self.vlan is not None and self.interface is None:
            return f"{self.trunk}.{self.vlan}"
        return self.interface

    @property
    def is_vlan(self) -> bool:
        return self.vlan is not None

    @property
    def is_wireguard(self) -> bool:
        return self.wireguard is not None


def parse_percent(value) -> float:
    """'40%' or 40 -> 40.0"""
    text = str(value).strip().removesuffix("%") if isinstance(value, (str, int, float)) else ""
    try:
        number = float(text)
    except ValueError:
        raise ValueError(say("config.share.invalid", value=repr(value))) from None
    if isinstance(value, bool) or not 0 < number <= 100:
        raise ValueError(say("config.share.range", value=repr(value)))
    return number


Percent = Annotated[float, BeforeValidator(parse_percent),
                    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
                                              {"type": "number"}]})]
DEFAULT_CLASS = "default"


def _rate_or_share(value) -> str:
    """A limit: a rate (`200mbit`) or a share of the pipe (`20%`), kept as written."""
    if isinstance(value, str) and value.strip().endswith("%"):
        parse_percent(value)
    else:
        parse_rate(value)
    return value.strip()


RateOrShare = Annotated[str, BeforeValidator(_rate_or_share),
                        WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?%|\d+(\.\d+)?[kmg]?bit)$"})]


class OpdLimit(Frozen):
    """What the admins allow an OPD's plans (operators edit plans, never limits): a rate, or a
    share of the pipe in that direction."""

    guaranteed: RateOrShare | None = None
    ceiling: RateOrShare | None = None

    def bits(self, field: str, pipe: int) -> int | None:
        value = getattr(self, field)
        if value is None:
            return None
        return int(pipe * parse_percent(value) / 100) if value.endswith("%") else parse_rate(value)


class BandwidthRates(Frozen):
    """guaranteed/ceiling for both directions, or `download`/`upload` rates apart (they win)."""

    guaranteed: Rate | None = None
    ceiling: Rate | None = None
    download: BandwidthPair | None = None
    upload: BandwidthPair | None = None

    @model_validator(mode="after")
    def _both_directions(self):
        for direction in DIRECTIONS:
            if getattr(self, direction) is None and (self.guaranteed is None or self.ceiling is None):
                raise ValueError(say("config.plan.missing_upload" if direction == "upload"
                                     else "config.plan.missing_download"))
        return self

    def rates(self, direction: str) -> Rates:
        pair = getattr(self, direction)
        return Rates(pair.guaranteed, pair.ceiling) if pair else Rates(self.guaranteed, self.ceiling)


class BandwidthPair(Frozen):
    guaranteed: Rate
    ceiling: Rate


class ClassMatch(Frozen):
    """What a traffic class selects: data-center services, and/or the far side's ports."""

    services: list[str] = Field(default_factory=list)
    ports: list[Port] = Field(default_factory=list)
    app: AppRefs = Field(default_factory=list)  # flows the classifier named so
    category: AppRefs = Field(default_factory=list)


class TrafficClass(Frozen):
    share: Percent  # of the OPD's guarantee
    ceiling: Rate | None = None  # default: the OPD's ceiling
    match: ClassMatch | None = None


class Bandwidth(BandwidthRates):
    classes: dict[ZoneName, TrafficClass] = Field(default_factory=dict)
    during: dict[str, BandwidthRates] = Field(default_factory=dict)  # schedule -> the rates then


BandwidthRates.model_rebuild()


class Service(Frozen):
    addresses: _one_or_many(IPv4Address, {"type": "string", "format": "ipv4"})
    ports: list[Port] = Field(default_factory=list)
    link: Link


DisplayName = _matching(r"[^\x00-\x1f\x7f\"\\\\]{1,100}", say("config.what.display_name"))


class Opd(Frozen):
    name: DisplayName
    subnet: _one_or_many(IPv4Network, {"type": "string", "format": "ipv4network"})
    link: Link
    bandwidth: Bandwidth | None = None
    limit: OpdLimit | None = None  # default: site.opd_limit


class Policy(Frozen):
    name: _text(1, 64, say("config.what.policy_name"))
    from_: ZoneRefs = Field(alias="from")
    to: ZoneRefs
    ports: list[Port] = Field(default_factory=list)
    protocols: list[Literal["tcp", "udp", "icmp"]] = Field(default_factory=list)
    action: Literal["accept", "drop", "reject"]
    log: bool = False
    schedule: str | None = None
    app: AppRefs = Field(default_factory=list)  # only flows the classifier named so (see render.nft)
    category: AppRefs = Field(default_factory=list)

    @property
    def by_application(self) -> bool:
        return bool(self.app or self.category)


class Schedule(Frozen):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: list(DAYS), min_length=1)
    from_: Clock = Field(alias="from")
    to: Clock


_ENDPOINT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")


def parse_endpoint(value) -> Endpoint:
    """'10.0.10.10:80' -> Endpoint."""
    match = _ENDPOINT.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(say("config.endpoint.tcp_invalid", value=repr(value)))
    port = int(match.group(2))
    if not 1 <= port <= 65535:
        raise ValueError(say("config.endpoint.port_range", value=repr(value)))
    return Endpoint(IPv4Address(match.group(1)), port)


TcpEndpoint = Annotated[Endpoint, BeforeValidator(parse_endpoint),
                        WithJsonSchema({"type": "string", "pattern": _ENDPOINT.pattern})]


class Checks(Frozen):
    """What must hold after every apply, tested from the box itself. When one fails,
    pnsboxd goes back to the version that ran before and records why."""

    reach: list[IPv4Address] = Field(default_factory=list)  # must answer an ICMP echo
    tcp: list[TcpEndpoint] = Field(default_factory=list)  # must accept a TCP connection
    timeout: bounded(0, 30, say("config.what.check_timeout"), whole=False, above_low=True) = 3.0  # each check

    def __bool__(self) -> bool:
        return bool(self.reach or self.tcp)


class Config(Frozen):
    """A whole site. Built by validate.build(); this class also yields `pnsbox schema`."""

    site: Site
    services: dict[ZoneName, Service] = Field(default_factory=dict)
    opds: dict[ZoneName, Opd] = Field(default_factory=dict)
    policies: list[Policy] = Field(default_factory=list)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    checks: Checks = Field(default_factory=Checks)

    @property
    def classifier(self) -> Classifier | None:
        """Classification settings when flows are classified: asked for, or needed by a policy or class."""
        if self.site.classifier:
            return self.site.classifier
        classes = [c for opd in self.opds.values() if opd.bandwidth for c in opd.bandwidth.classes.values()]
        if any(p.by_application for p in self.policies) or any(
                c.match and (c.match.app or c.match.category) for c in classes):
            return Classifier()
        return None

    def zone_names(self) -> set[str]:
        return set(self.opds) | set(self.services) | {ZONE_INTERNET, ZONE_BOX}

    def expand(self, refs: list[str]) -> list[str]:
        """Zone references -> zone names, `opds` expanded, order kept, no repeats."""
        out: dict[str, None] = {}  # ordered, and membership is O(1)
        for ref in refs:
            out.update(dict.fromkeys(self.opds if ref == GROUP_OPDS else [ref]))
        return list(out)
