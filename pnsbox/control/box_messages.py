"""The control API's messages for reading the box (status, history, audit, counters, classes,
usage, monthly reports), explain and the web UI's audit events: part of control.messages (named
there as `m.Status`, ...), loaded when first named."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

from .messages import Pending, Signed


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
    said: dict | None = None  # the detail as a code and arguments (pnsbox.wording), for other languages


@dataclass(frozen=True)
class ExplainReply:
    action: str
    policy: str | None
    shaping: str | None
    text: str
    said: list[dict] = field(default_factory=list)  # each line: {indent, code, args} (pnsbox.wording)


@dataclass(frozen=True)
class VersionSummary:
    id: int
    parent: int | None
    author: str
    time: float
    message: str
    digest: str | None
    rolled_back: str | None = None  # why it no longer runs, when it was rolled back
    rolled_back_said: dict[str, typing.Any] | None = None  # that reason's code and arguments (pnsbox.wording)
    message_said: dict[str, typing.Any] | None = None  # the message's, when pnsboxd wrote it (a person's: None)


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
    said: dict | None = None  # the detail as a code and arguments (pnsbox.wording); older entries have none


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
    last_check_failures_said: list[typing.Any] = field(default_factory=list)  # their codes (pnsbox.wording)


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
