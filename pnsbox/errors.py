"""Every error pnsbox reports, once: what it means to a shell (exit code) and to HTTP (status).

The CLI, pnsboxd's control API and the web UI all map errors through these classes; none of
them keeps a table of its own. Over the control socket an error travels as its `kind` (a
stable word of the protocol) and comes back out of the client as the same class.
"""

from __future__ import annotations

from dataclasses import asdict

from .wording import Said, structured

EXIT_OK, EXIT_CONFIG, EXIT_USAGE, EXIT_KERNEL, EXIT_REFUSED = 0, 1, 2, 3, 4


class PnsboxError(Exception):
    """Something pnsbox says no to, with a message for a person. Never a traceback."""

    kind = "error"
    exit_code = EXIT_KERNEL
    http_status = 500
    said: dict | None = None  # the message's code and arguments, when it was said (pnsbox.wording)

    def __init__(self, *args):
        super().__init__(*args)
        self.said = structured(args[0]) if args else None

    def reply(self) -> dict:
        """The JSON body an API answers with (with the message's code, for readers of other languages)."""
        return {"error": str(self), "kind": self.kind, **({"said": self.said} if self.said else {})}

    def lines(self) -> list[str]:
        """What a shell prints on stderr."""
        return [f"error: {self}"]

    @classmethod
    def from_reply(cls, body: dict) -> PnsboxError:
        error = cls(str(body.get("error") or cls.__doc__))
        error.said = body.get("said") if isinstance(body.get("said"), dict) else None
        return error


class ConfigError(PnsboxError):
    """The config has problems; every one names its file, line and YAML path."""

    kind = "config"
    exit_code = EXIT_CONFIG
    http_status = 422

    def __init__(self, problems: list):  # of problems.Problem
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    def summary(self) -> str:
        return f"{len(self.problems)} problem(s); nothing was applied"

    def reply(self) -> dict:
        return {"error": self.summary(), "kind": self.kind, "problems": [asdict(p) for p in self.problems]}

    def lines(self) -> list[str]:
        return [*map(str, self.problems), self.summary()]

    @classmethod
    def from_reply(cls, body: dict) -> ConfigError:
        from .problems import Problem

        return cls([Problem(**p) for p in body.get("problems") or []])


class BadRequest(PnsboxError, ValueError):
    """A request or a form field that is not what it must be (the message names the field)."""

    kind = "bad-request"
    exit_code = EXIT_USAGE
    http_status = 400


class NotFound(PnsboxError, LookupError):
    """No such version, OPD, endpoint, ..."""

    kind = "not-found"
    exit_code = EXIT_CONFIG
    http_status = 404


class Forbidden(PnsboxError):
    """The user's role does not allow this (the message says why)."""

    kind = "forbidden"
    exit_code = EXIT_REFUSED
    http_status = 403


class Refused(PnsboxError):
    """pnsboxd would not make this change (it would lock the requester out, ...)."""

    kind = "refused"
    exit_code = EXIT_REFUSED
    http_status = 403

    def lines(self) -> list[str]:
        return [f"refused: {self}"]


class ChecksFailed(PnsboxError):
    """The change went live but its checks failed; pnsboxd went back on its own."""

    kind = "checks-failed"
    exit_code = EXIT_KERNEL
    http_status = 409

    def reply(self) -> dict:
        return {**super().reply(), "rolled_back": True}


class KernelError(PnsboxError):
    """A kernel tool refused a change; the message names what in the config caused it."""

    kind = "kernel"
    http_status = 409


class PlanError(PnsboxError):
    """The config cannot be applied to this box as it is (nothing was changed)."""

    kind = "plan"
    http_status = 409


class FactsError(PnsboxError):
    """The config asks for something this kernel does not have."""

    kind = "facts"
    http_status = 409


class PeerError(PnsboxError):
    """Which hub of an HA pair this is was not said, or names no peer of the site."""

    kind = "peer"
    exit_code = EXIT_USAGE
    http_status = 409


class LabError(PnsboxError):
    """A lab cannot be built or used as asked."""

    kind = "lab"
    http_status = 409


class StaleDraft(PnsboxError):
    """The box moved to another version since a draft was started."""

    kind = "stale-draft"
    exit_code = EXIT_CONFIG
    http_status = 409


class Unreachable(PnsboxError):
    """pnsboxd could not be reached on its control socket."""

    kind = "unreachable"
    http_status = 503


class InternalError(PnsboxError):
    """A bug: the caller still gets an answer, the log gets the traceback."""

    kind = "internal"
    http_status = 500


KINDS: dict[str, type[PnsboxError]] = {c.kind: c for c in (
    PnsboxError, ConfigError, BadRequest, NotFound, Forbidden, Refused, ChecksFailed, KernelError, PlanError,
    FactsError, LabError, StaleDraft, Unreachable, InternalError)}


def from_reply(status: int, body) -> PnsboxError:
    """An API's error answer -> the error it was, by its `kind` (the status when there is none)."""
    body = body if isinstance(body, dict) else {"error": str(body)}
    cls = KINDS.get(body.get("kind")) or next(
        (c for c in KINDS.values() if c.http_status == status and c is not PnsboxError), InternalError)
    return cls.from_reply(body)


def as_pnsbox_error(exc: Exception) -> PnsboxError | None:
    """The standard library's own refusals as ours: bad values are bad requests, missing keys not found."""
    if isinstance(exc, PnsboxError):
        return exc
    if isinstance(exc, (LookupError, KeyError)):
        said = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Said) else None
        return NotFound(said if said is not None else str(exc).strip("'\""))  # a said one keeps its code
    if isinstance(exc, ValueError):
        return BadRequest(str(exc))
    return None
