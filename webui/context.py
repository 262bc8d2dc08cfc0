"""What every view needs: the app's shared objects, the signed-in user, and the box as the daemon
tells it (status, the running version's files), read once per request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from pnsbox.control import messages as m
from pnsbox.control.client import ControlClient
from pnsbox.errors import PnsboxError
from pnsbox.wording import structured

from .accounts import AccountStore, User
from .drafts import DraftStore
from .settings import Settings
from .site import Site, parse
from .throttle import LoginThrottle


@dataclass
class WebContext:
    settings: Settings
    accounts: AccountStore
    daemon: ControlClient
    drafts: DraftStore
    throttle: LoginThrottle
    sessions: object  # auth.SessionRegistry


def ctx() -> WebContext:
    return current_app.extensions["pnsbox"]


def user() -> User:
    return g.user


def origin() -> str:
    return f"web:{request.remote_addr or 'unknown'}"


def signed(who: str | None = None) -> dict:
    """Who asks, in which role, from where and over which port, for a change through the daemon
    (audit, anti-lockout, the daemon's own role check)."""
    current = g.get("user")
    return {"author": who or user().name, "role": current.role if current else None, "from_": origin(),
            "port": ctx().settings.management_port}


def audit(action: str, detail: str, who: str | None = None) -> None:
    """Logins and account changes go to the daemon's audit trail (DETAIL said: with its code, for
    readers of other languages); a daemon that is down is noted, not fatal."""
    try:
        ctx().daemon.audit_event(m.AuditEventRequest(action=action, detail=str(detail), said=structured(detail),
                                                     **signed(who or (g.user.name if g.get("user") else "-"))))
    except PnsboxError as exc:
        current_app.logger.warning("audit event %s not recorded: %s", action, exc)


def status() -> m.Status:
    if "box_status" not in g:
        g.box_status = ctx().daemon.status()
    return g.box_status


def running_files() -> dict[str, str]:
    """The files of the version the box runs (empty before the first apply)."""
    if "running_files" not in g:
        running = status().running
        g.running_files = ctx().daemon.version(running).files if running else {}
    return g.running_files


def running_site() -> Site:
    return parse(running_files())
