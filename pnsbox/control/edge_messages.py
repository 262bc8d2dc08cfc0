"""The control API's messages of the /edges routes: part of control.messages (named there as
`m.EdgeListing`, ...), loaded when first named."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BadRequest
from .messages import Signed


def _short(**values) -> None:
    """Keys, tokens and credentials are short strings (an edge's request is read before it is trusted)."""
    for key, value in values.items():
        if value is not None and len(value) > 200:
            raise BadRequest(f"`{key}` is a short string")


@dataclass(frozen=True, kw_only=True)
class EdgeTokenRequest(Signed):
    """A one-time enrollment token for an OPD's edge: {opd, expires}."""

    opd: str
    expires: str = "24h"

    def __post_init__(self):
        super().__post_init__()
        _short(opd=self.opd, expires=self.expires)
        if not self.opd:
            raise BadRequest("give `opd`")


@dataclass(frozen=True, kw_only=True)
class EdgeRequest(Signed):
    """Disable or enable an OPD's edge: {opd}."""

    opd: str

    def __post_init__(self):
        super().__post_init__()
        _short(opd=self.opd)
        if not self.opd:
            raise BadRequest("give `opd`")


@dataclass(frozen=True, kw_only=True)
class EnrollRequest(Signed):
    """An edge enrols with its token and public key (relayed by pnsbox-web): {token, public_key}."""

    token: str
    public_key: str

    def __post_init__(self):
        super().__post_init__()
        _short(token=self.token, public_key=self.public_key)


@dataclass(frozen=True, kw_only=True)
class EdgeConfigRequest(Signed):
    """An enrolled edge fetches its config: {credential[, public_key]} (the key it runs ends a rotation)."""

    credential: str
    public_key: str | None = None

    def __post_init__(self):
        super().__post_init__()
        _short(credential=self.credential, public_key=self.public_key)


@dataclass(frozen=True, kw_only=True)
class RotateRequest(Signed):
    """An edge's new public key, shown with its credential: {credential, public_key}."""

    credential: str
    public_key: str

    def __post_init__(self):
        super().__post_init__()
        _short(credential=self.credential, public_key=self.public_key)


@dataclass(frozen=True)
class EdgeEntry:
    """A tunnelled OPD's edge as the book has it (and, from GET /edges, as the hub's interface sees it)."""

    in_config: bool
    enrolled: bool
    public_key: str | None = None
    tunnel_address: str | None = None
    enrolled_at: float | None = None
    key_since: float | None = None
    disabled: bool | None = None
    up: bool | None = None
    latest_handshake: int | float | None = None
    endpoint: str | None = None
    fetched_version: int | None = None


@dataclass(frozen=True)
class EdgeTokenInfo:
    """An enrollment token without its text: who made it, until when, whether it was used."""

    id: int
    opd: str
    created: float
    expires: float
    author: str
    state: str  # valid, used, expired
    used: float | None = None


@dataclass(frozen=True)
class EdgeListing:
    edges: dict[str, EdgeEntry]
    tokens: list[EdgeTokenInfo]


@dataclass(frozen=True)
class EdgeToken:
    """A new enrollment token: its text is shown this once."""

    token: str
    id: int
    opd: str
    expires: float


@dataclass(frozen=True)
class EdgeDisabled:
    opd: str
    disabled: bool


@dataclass(frozen=True)
class HubPeer:
    public_key: str
    tunnel_address: str
    listen_port: int
    tunnel: str


@dataclass(frozen=True)
class Enrolled:
    """What an enrolled edge needs to bring up its tunnel, and the credential it fetches its config with."""

    opd: str
    public_key: str
    tunnel_address: str
    credential: str
    subnets: list[str]
    hub: HubPeer


@dataclass(frozen=True)
class EdgeInterface:
    address: str
    mtu: int


@dataclass(frozen=True)
class EdgeHub:
    public_key: str
    port: int
    tunnel_address: str
    keepalive: int | None


@dataclass(frozen=True)
class EdgeUpload:
    rate: int
    ceil: int


@dataclass(frozen=True)
class EdgeInbound:
    """A hub policy that accepts into the edge's OPD: new connections the edge lets into its LAN."""

    policy: str
    from_: list[str]  # the sources' CIDRs
    ports: list[str]  # tcp/22, udp/5000-5100; none and no protocols: everything
    protocols: list[str]


@dataclass(frozen=True)
class EdgeConfig:
    """What the hub tells an edge (pnsbox.edge.config): `digest` covers all but version and digest."""

    opd: str
    name: str
    interface: EdgeInterface
    hub: EdgeHub
    lan: list[str]
    upload: EdgeUpload | None
    routes: list[str]
    breakout: bool
    version: int | None
    digest: str
    inbound: list[EdgeInbound] = field(default_factory=list)  # absent from an older hub: replies only


@dataclass(frozen=True)
class Rotated:
    opd: str
    public_key: str
    key_since: float
