"""Signing in and out. Sessions live in the server (the cookie holds only a random id and the
CSRF token), so a logout, a password change or a deleted account ends them at once; an idle
session ends after settings.idle_timeout. API calls authenticate with a bearer token instead."""

from __future__ import annotations

import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask import current_app as app

from pnsbox.wording import say

from .context import audit, ctx
from .i18n import LANGUAGES, translate

bp = Blueprint("auth", __name__)
PUBLIC_ENDPOINTS = {"auth.login", "auth.language", "static", "api.openapi",
                    "edge_api_elsewhere"}  # says where edges go (the edge listener), to anyone
# What pages ask for by themselves (the graphs' polling): it keeps no session alive.
BACKGROUND_ENDPOINTS = {"api.live"}


class SessionRegistry:
    def __init__(self, idle_timeout: float, lifetime: float, clock=time.time):
        self.idle_timeout, self.lifetime, self.clock = idle_timeout, lifetime, clock
        self._sessions: dict[str, dict] = {}
        self._lock = threading.Lock()

    def start(self, user: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = {"user": user, "started": self.clock(), "seen": self.clock()}
        return sid

    def touch(self, sid: str | None, activity: bool = True, since: dict | None = None) -> tuple[str | None, bool]:
        """(the session's user, or None; whether it just expired). Only ACTIVITY (a person's
        request, not a page polling) keeps it from idling out; a session started before its
        user's password changed (SINCE: user -> time) is over."""
        now = self.clock()
        with self._lock:
            found = self._sessions.get(sid or "")
            if not found:
                return None, False
            if found["started"] < (since or {}).get(found["user"], 0.0):
                del self._sessions[sid]
                return None, False
            if now - found["seen"] > self.idle_timeout or now - found["started"] > self.lifetime:
                del self._sessions[sid]
                return None, True
            if activity:
                found["seen"] = now
            return found["user"], False

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def end_user(self, user: str, keep: str | None = None) -> None:
        with self._lock:
            for sid in [s for s, v in self._sessions.items() if v["user"] == user and s != keep]:
                del self._sessions[sid]


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def load_user():
    """Before every request: who is asking (token or session); everything but the login page,
    the static files and the OpenAPI document needs someone."""
    g.user, g.via_token = None, False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and _wants_json():
        g.user = ctx().accounts.user_of_token(header[7:].strip())
        g.via_token = g.user is not None
        if g.user is None:
            return jsonify(error="invalid API token"), 401
    elif "sid" in session:
        since = {n: u.sessions_since for n, u in ctx().accounts.users().items()}
        name, expired = ctx().sessions.touch(session["sid"], request.endpoint not in BACKGROUND_ENDPOINTS, since)
        g.user = ctx().accounts.get(name) if name else None
        if g.user is None:
            session.clear()
            if expired:
                flash(translate("Your session ended after a period of inactivity. Please sign in again."), "info")
    if g.user is None and request.endpoint not in PUBLIC_ENDPOINTS:
        if _wants_json():
            return jsonify(error="sign in or give an API token (Authorization: Bearer ...)"), 401
        return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
    return None


def _client() -> str:
    return request.remote_addr or "unknown"


MAX_NAME, MAX_PASSWORD = 64, 1024  # longer is never an account: refused before any work or memory


def local_target(target: str | None) -> str | None:
    """TARGET if it is a path on this site (for `next=`), else None. Browsers drop tabs and
    newlines and read a backslash as `/`, so `/%09/evil.example` would leave the site."""
    if not target or not target.startswith("/") or any(ord(c) < 0x21 or c in "\\\x7f" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method != "POST":  # GET, and HEAD (which Flask routes here too): only the form
        return render_template("login.html")
    if (request.content_length or 0) > 16 * 1024:
        return render_template("login.html"), 413
    name = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    if len(name) > MAX_NAME or len(password) > MAX_PASSWORD:
        flash(translate("Wrong user name or password."), "error")
        return render_template("login.html"), 400
    throttle, address = ctx().throttle, _client()
    wait = throttle.wait_seconds(address, name)
    if wait:
        flash(translate("Too many failed sign-ins. Try again in {seconds} seconds.", seconds=wait), "error")
        return render_template("login.html", username=name), 429
    found = ctx().accounts.verify(name, password) if name and password else None
    if found is None:
        locked = throttle.failed(address, name)
        audit("login-failed", say("audit.login-failed", name=repr(name[:40])), who=name[:40] or "-")
        if locked:
            app.logger.warning("sign-ins from %s locked for %s s (user %r)", address, throttle.window,
                                       name[:40])
            audit("login-locked", say("audit.login-locked", address=str(address), name=repr(name[:40]),
                                      seconds=f"{throttle.window:g}"), who=name[:40] or "-")
        flash(translate("Wrong user name or password."), "error")
        return render_template("login.html", username=name), 401
    throttle.succeeded(address, name)
    session.clear()  # a fresh session (and CSRF token) at every sign-in
    session["sid"] = ctx().sessions.start(found.name)
    g.user = found
    audit("login", say("audit.login", name=found.name, role=found.role))
    return redirect(local_target(request.args.get("next")) or url_for("dashboard.index"))


@bp.route("/logout", methods=["POST"])
def logout():
    audit("logout", say("audit.logout", name=g.user.name))
    ctx().sessions.end(session.get("sid"))
    session.clear()
    flash(translate("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def language():
    """Switch the language: kept in the account when signed in, in the session before."""
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        if g.user:
            ctx().accounts.set_language(g.user.name, lang)
        else:
            session["lang"] = lang
    return redirect(local_target(request.form.get("next")) or url_for("dashboard.index"))
