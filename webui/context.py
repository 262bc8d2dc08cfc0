"""What every view needs: the app's shared objects, the signed-in user, and the box as the daemon
tells it (status, the running version's files), read once per request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, request

from .accounts import AccountStore, User
from .daemon_client import DaemonClient, DaemonError
from .drafts import DraftStore
from .settings import Settings
from .site import Site, parse
from .throttle import LoginThrottle


@dataclass
class WebContext:
    settings: Settings
    accounts: AccountStore
    daemon: DaemonClient
    drafts: DraftStore
    throttle: LoginThrottle
    sessions: object  # auth.SessionRegistry


def ctx() -> WebContext:
    return current_app.extensions["pnsbox"]


def user() -> User:
    return g.user


def origin() -> str:
    return f"web:{request.remote_addr or 'unknown'}"


def post(path: str, body: dict) -> dict:
    """A change through the daemon, signed by the signed-in user."""
    return ctx().daemon.post(path, {**body, "role": user().role}, user().name, origin(),
                             ctx().settings.management_port)


def audit(action: str, detail: str, who: str | None = None) -> None:
    """Logins and account changes go to the daemon's audit trail; a daemon that is down is noted, not fatal."""
    try:
        ctx().daemon.post("/audit/event", {"action": action, "detail": detail},
                          who or (g.user.name if g.get("user") else "-"), origin(),
                          ctx().settings.management_port)
    except DaemonError as exc:
        current_app.logger.warning("audit event %s not recorded: %s", action, exc)


def status() -> dict:
    if "box_status" not in g:
        g.box_status = ctx().daemon.get("/status")
    return g.box_status


def running_files() -> dict[str, str]:
    """The files of the version the box runs (empty before the first apply)."""
    if "running_files" not in g:
        running = status().get("running")
        g.running_files = ctx().daemon.get(f"/versions/{running}")["files"] if running else {}
    return g.running_files


def running_site() -> Site:
    return parse(running_files())
