"""The control API's requests and answers, typed once for both sides (pnsboxd and its clients).

Each POST route reads its body with `parse(RouteRequest, body)` (every field checked, a wrong
one named), and each answer is built as its dataclass and sent with `to_json`. Clients get the
same dataclasses back. Plain dataclasses: the CLI imports this without pydantic.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field

from ..errors import BadRequest

# --- encoding ------------------------------------------------------------------------

_RENAMED = {"from_": "from", "class_": "class"}  # Python names that are keywords, as the JSON spells them


def to_json(message) -> dict:
    """A message as the JSON object the wire carries (None fields kept: the shape is fixed)."""
    out = {}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        out[_RENAMED.get(f.name, f.name)] = _plain(value)
    return out


def _plain(value):
    if dataclasses.is_dataclass(value):
        return to_json(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse(cls, body):
    """A JSON object -> `cls`, every field's type checked; BadRequest names the first wrong field.
    Keys the message does not know are ignored (older and newer clients still talk)."""
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object ({cls.__doc__.splitlines()[0].rstrip('.')})")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = _RENAMED.get(f.name, f.name)
        if key not in body:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BadRequest(f"give `{key}`")
            continue
        values[f.name] = _checked(hints[f.name], body[key], key)
    return cls(**values)


def _checked(kind, value, key: str):
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _checked(option, value, key)
            except BadRequest:
                continue
        raise BadRequest(f"`{key}` is {_describe(kind)}")
    if kind is type(None):
        if value is None:
            return None
    elif kind is typing.Any:
        return value
    elif origin is list:
        if isinstance(value, list):
            return [_checked(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return {_checked(args[0], k, key): _checked(args[1], v, f"{key}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(kind):
        return parse(kind, value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
        return value
    raise BadRequest(f"`{key}` is {_describe(kind)}")


def _describe(kind) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             type(None): "null"}
    if kind in names:
        return names[kind]
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if typing.get_origin(kind) is list:
        return f"a list of {_describe(args[0]).removeprefix('a ')}"
    if typing.get_origin(kind) is dict:
        return "an object of names to strings" if args == (str, str) else "an object"
    return "an object"


# --- who asks ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Signed:
    """Who asks (the web UI's signed-in user, in their role), from where (`ssh:ADDR`, `web:ADDR`), over which port."""

    author: str | None = None
    from_: str | None = None
    port: str | None = None
    role: str | None = None  # the web UI's user's role; the shell's users are the box's admins

    def __post_init__(self):
        if any(v is not None and len(v) > 200 for v in (self.author, self.from_)) or (
                self.port is not None and len(self.port) > 20):
            raise BadRequest("author, from and port are short strings")
        if self.role not in (None, "admin", "operator", "auditor"):
            raise BadRequest("`role` is admin, operator or auditor")


def _confirm_checked(confirm: float | None) -> None:
    """A deadline that cannot fire is refused."""
    if confirm is not None and not 1 <= confirm <= 86400:
        raise BadRequest("`confirm` is a number of seconds from 1 to 86400")


# --- requests ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    """What applying these files would change: {files[, where]}."""

    files: dict[str, str]
    where: str = ""  # the site's directory, as a label for problems

    def __post_init__(self):
        if len(self.where) > 4096:
            raise BadRequest("`where` is the site's directory, as a label for problems")


@dataclass(frozen=True, kw_only=True)
class ApplyRequest(Signed):
    """Make the box run these files: {files, where, message, confirm, force}."""

    files: dict[str, str]
    where: str = ""
    message: str = "apply"
    confirm: float | None = None  # seconds until an unconfirmed change is rolled back
    force: bool = False

    def __post_init__(self):
        super().__post_init__()
        PlanRequest(files=self.files, where=self.where)
        _confirm_checked(self.confirm)


@dataclass(frozen=True, kw_only=True)
class ConfirmRequest(Signed):
    """Keep the change that waits for a confirm."""


@dataclass(frozen=True, kw_only=True)
class RollbackRequest(Signed):
    """Apply an earlier version again: {version, confirm, force}."""

    version: int
    confirm: float | None = None
    force: bool = False

    def __post_init__(self):
        super().__post_init__()
        _confirm_checked(self.confirm)


@dataclass(frozen=True, kw_only=True)
class ResolveRequest(Signed):
    """End a split brain of the HA pair: keep this hub's versions, the other sets its own aside."""

    keep: str


@dataclass(frozen=True, kw_only=True)
class ExplainRequest:
    """Which policy decides {source, target, port} (in `files`, or in what runs)."""

    source: str
    target: str
    port: str | None = None
    files: dict[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class AuditEventRequest(Signed):
    """An event the web UI witnessed (a login, an account change), for the audit trail."""

    action: str
    detail: str = ""


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


# --- answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    kind: str
    text: str
    origin: str = ""


@dataclass(frozen=True)
class PlanReply:
    steps: list[PlanStep]
    warnings: list[str] = field(default_factory=list)  # what this kernel cannot give the config


@dataclass(frozen=True)
class Pending:
    """A change that waits for a confirm, and the version a rollback returns to."""

    version: int
    deadline: float
    rollback_to: int | None = None


@dataclass(frozen=True)
class ApplyReply:
    version: int
    changes: list[str]
    pending: Pending | None = None
    unchanged: bool = False


@dataclass(frozen=True)
class ConfirmReply:
    confirmed: int


@dataclass(frozen=True)
class ExplainReply:
    action: str
    policy: str | None
    shaping: str | None
    text: str


@dataclass(frozen=True)
class VersionSummary:
    id: int
    parent: int | None
    author: str
    time: float
    message: str
    digest: str | None
    rolled_back: str | None = None  # why it no longer runs, when it was rolled back


@dataclass(frozen=True)
class Version(VersionSummary):
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DiffReply:
    diff: str


@dataclass(frozen=True)
class AuditVerifyReply:
    intact: bool
    problems: list[str]
    entries: int


@dataclass(frozen=True)
class AuditEntry:
    """One link of the hash-chained audit trail."""

    seq: int
    time: float
    actor: str
    from_: str
    action: str
    detail: str
    prev: str
    hash: str
    hub: str | None = None  # the HA hub that wrote it


@dataclass(frozen=True)
class Traffic:
    bytes: int
    packets: int


@dataclass(frozen=True)
class OpdCounters:
    name: str
    tx: Traffic  # from the OPD (upload)
    rx: Traffic  # toward the OPD (download)


@dataclass(frozen=True)
class Counters:
    """Per-OPD and per-policy counters of the loaded table (`loaded`: false when none is)."""

    loaded: bool
    digest: str | None = None
    opds: dict[str, OpdCounters] = field(default_factory=dict)
    rules: dict[str, Traffic] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassStats:
    """One HTB class of an IFB device: its rates (bits/s), what it carries now, drops, borrowing."""

    class_: str
    label: str
    rate: int
    ceil: int
    rate_now: int
    bytes: int
    drops: int
    borrowed: int


@dataclass(frozen=True)
class UsageRow:
    """An OPD's month: bytes and packets from it (tx) and toward it (rx)."""

    tx_bytes: int
    tx_packets: int
    rx_bytes: int
    rx_packets: int


@dataclass(frozen=True)
class Usage:
    """One month's usage per OPD (pnsboxd's book), and the months it holds."""

    month: str
    months: list[str]
    opds: dict[str, UsageRow]


@dataclass(frozen=True)
class ClassifierStatus:
    wanted: bool
    down: bool
    queues: int | None = None
    bound: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Status:
    """What runs, what waits for a confirm, drift repairs, the classifier."""

    running: int | None
    confirmed: int | None
    pending: Pending | None
    confirm_seconds_left: float | None
    drift_repairs: int
    last_drift: dict[str, typing.Any] | None
    last_check_failures: list[str]
    classifier: ClassifierStatus | None = None
    rollback_alert: dict[str, typing.Any] | None = None  # an automatic rollback nobody acknowledged yet


# --- edges (GET /edges, POST /edges/...) ----------------------------------------------


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


@dataclass(frozen=True)
class Rotated:
    opd: str
    public_key: str
    key_since: float


# --- monthly reports (GET /reports/YYYY-MM[/hourly/OPD]) -----------------------------------


@dataclass(frozen=True)
class DirectionReport:
    """One direction of a month (pnsbox.report.compute): rates in bit/s, times in the site's clock."""

    bytes: int
    average: int | float
    p95: int | float
    peak: int | float
    peak_at: str | None
    peak_hour: int | None
    peak_weekday: str | None
    hours_near_ceiling: int | float
    drops: int
    guarantee: int
    ceiling: int
    utilisation: int | float | None
    peak_hour_start: str | None = None  # the province's: the hour of its peak, and each OPD's share of it
    shares: dict[str, float] | None = None


@dataclass(frozen=True)
class OpdMonth:
    name: str
    seconds: int | float  # sampled
    down: DirectionReport
    up: DirectionReport
    categories: list[list[typing.Any]] = field(default_factory=list)  # [category, bytes, share of the OPD's]


@dataclass(frozen=True)
class ProvinceMonth:
    down: DirectionReport
    up: DirectionReport


@dataclass(frozen=True)
class MonthReport:
    """A month's evaluation; `province` and `categories` only for those who see every OPD."""

    month: str
    site: str | None
    timezone_offset: int
    months: list[str]
    opds: dict[str, OpdMonth]
    province: ProvinceMonth | None = None
    categories: list[list[typing.Any]] | None = None  # [category, bytes], most first


@dataclass(frozen=True)
class MonthHourly:
    """`hours`: [local hour, average down, average up, peak down, peak up];
    `plans`: [local time, guarantee down, ceiling down, guarantee up, ceiling up]."""

    month: str
    opd: str
    hours: list[list[typing.Any]]
    plans: list[list[typing.Any]]


def applied(reply: dict) -> ApplyReply:
    """The daemon's answer to an apply or a rollback, typed."""
    return ApplyReply(reply["version"], reply["changes"], pending_of(reply.get("pending")),
                      bool(reply.get("unchanged")))


def pending_of(record: dict | None) -> Pending | None:
    """The daemon's pending record as the wire carries it."""
    return parse(Pending, record) if record else None
