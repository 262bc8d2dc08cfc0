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


# --- answers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    kind: str
    text: str
    origin: str = ""
    said: dict | None = None  # the text as a code and arguments (pnsbox.wording), for other languages


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


# The other routes' messages live beside this module and load when first named (`m.Status`,
# `m.EdgeListing`, ...): `pnsbox apply` through pnsboxd needs only the ones above, and each
# dataclass costs its creation at import.
_ELSEWHERE = {
    "box_messages": (
        "ExplainRequest", "AuditEventRequest", "ExplainReply", "VersionSummary", "Version", "DiffReply",
        "AuditVerifyReply", "AuditEntry", "Traffic", "OpdCounters", "Counters", "ClassStats", "UsageRow",
        "Usage", "ClassifierStatus", "Status", "DirectionReport", "OpdMonth", "ProvinceMonth",
        "MonthReport", "MonthHourly"
    ),
    "edge_messages": (
        "EdgeTokenRequest", "EdgeRequest", "EnrollRequest", "EdgeConfigRequest", "RotateRequest",
        "EdgeEntry", "EdgeTokenInfo", "EdgeListing", "EdgeToken", "EdgeDisabled", "HubPeer", "Enrolled",
        "EdgeInterface", "EdgeHub", "EdgeUpload", "EdgeInbound", "EdgeConfig", "Rotated"
    ),
}


def __getattr__(name: str):
    import importlib

    for module, names in _ELSEWHERE.items():
        if name in names:
            return getattr(importlib.import_module(f"{__package__}.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



def applied(reply: dict) -> ApplyReply:
    """The daemon's answer to an apply or a rollback, typed."""
    return ApplyReply(reply["version"], reply["changes"], pending_of(reply.get("pending")),
                      bool(reply.get("unchanged")))


def pending_of(record: dict | None) -> Pending | None:
    """The daemon's pending record as the wire carries it."""
    return parse(Pending, record) if record else None
