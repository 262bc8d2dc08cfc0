"""The Flask application: settings, shared objects, blueprints, error pages and security headers."""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from pnsbox.control.client import ControlClient
from pnsbox.errors import PnsboxError
from pnsbox.model import format_rate

from . import auth, roles
from .accounts import AccountStore
from .context import WebContext
from .drafts import DraftStore
from .files import write_private
from .formats import format_bytes
from .i18n import LANGUAGES, audit_kind, current_language, error_text, said, translate
from .settings import Settings
from .throttle import LoginThrottle

csrf = CSRFProtect()


def _secret_key(settings: Settings) -> str:
    """Made once and kept, so sessions survive a restart of the web process."""
    path = settings.state_dir / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def create_app(settings: Settings | None = None, daemon: ControlClient | None = None) -> Flask:
    settings = settings or Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=_secret_key(settings),
        SESSION_COOKIE_NAME="pnsbox_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (server-side, idle-limited) session
        WTF_CSRF_SSL_STRICT=True,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.extensions["pnsbox"] = WebContext(
        settings=settings,
        accounts=AccountStore(settings.users_file),
        daemon=daemon or ControlClient(settings.socket),
        drafts=DraftStore(settings.drafts_dir),
        throttle=LoginThrottle(settings.login_attempts, settings.login_window, settings.address_attempts),
        sessions=auth.SessionRegistry(settings.idle_timeout, settings.session_lifetime),
    )
    csrf.init_app(app)
    app.before_request(auth.load_user)

    from . import api
    from .views import account, audit, bandwidth, changes, dashboard, history, opds, policies, reports

    for module in (auth, dashboard, opds, policies, bandwidth, reports, changes, history, audit, account, api):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # the API checks CSRF itself for cookie sessions; tokens need none

    @app.route("/edges/v1/<path:rest>", methods=["GET", "POST"])
    @csrf.exempt
    def edge_api_elsewhere(rest):
        """Edges enrol and fetch their config on the edge listener (pnsbox-web --edges), never here."""
        return jsonify(error="the edge API is not served on the admin web UI: edges use the edge listener "
                             "(site.edges_url, pnsbox-web --edges)", kind="not_found"), 404
    _register_errors(app)
    _register_template_helpers(app)
    app.after_request(_security_headers)
    return app


def _error(status: int, message: str, problems: list | None = None, kind: str = "error", said: dict | None = None):
    if request.path.startswith("/api/"):
        return jsonify(error=message, kind=kind, problems=[str(p) for p in problems or []],
                       problems_said=[_problem_said(p) for p in problems or []],
                       **({"said": said} if said else {})), status
    return render_template("error.html", status=status, message=message, problems=problems or []), status


def _problem_said(problem) -> dict | None:
    """A problem's place and its message's code and arguments (pnsbox.wording), beside its English
    line in `problems`: an API client words it in its own language; None when it was not said."""
    code = getattr(problem, "said", None)
    if not code:
        return None
    return {"file": problem.file, "line": problem.line, "path": problem.path, **code}


def answer_error(exc: PnsboxError):
    """Every pnsbox error as a page or an API answer, with the status errors.py gives its class."""
    message = translate("Not allowed: {why}", why=str(exc)) if isinstance(exc, roles.Forbidden) else error_text(exc)
    return _error(exc.http_status, message, getattr(exc, "problems", None), exc.kind, getattr(exc, "said", None))


def _register_errors(app: Flask) -> None:
    app.register_error_handler(PnsboxError, answer_error)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc):
        return _error(400, translate("The form was refused: its security token is missing or old. Reload the page and try again."))

    @app.errorhandler(404)
    def not_found(exc):
        return _error(404, translate("Not found."))

    @app.errorhandler(HTTPException)
    def http_error(exc):  # 400, 405, 413, ...: JSON on the API like every other answer there
        return _error(exc.code or 500, exc.description or exc.name)


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _register_template_helpers(app: Flask) -> None:
    def box_status() -> dict | None:
        """What runs and waits, for the banners on every page (none when the daemon is down)."""
        if not g.get("user"):
            return None
        try:
            from .context import status

            return status()
        except PnsboxError:
            return None

    @app.context_processor
    def helpers():
        return {"_": translate, "said": said, "audit_kind": audit_kind, "box": box_status(), "user": g.get("user"), "lang": current_language(), "languages": LANGUAGES,
                "can_change": bool(g.get("user")) and roles.can_change(g.user),
                "can_read_history": bool(g.get("user")) and roles.can_read_history(g.user),
                "is_admin": bool(g.get("user")) and g.user.role == "admin"}

    app.add_template_filter(format_rate, "rate")
    app.add_template_filter(format_bytes, "bytes")
    app.add_template_filter(lambda v: ", ".join(map(str, v)) if isinstance(v, list) else (v or ""), "names")

    def site_timezone() -> str:
        """The site's own timezone (WIB, WITA or WIT), as its config says; Jakarta before any."""
        if "site_timezone" not in g:
            try:
                from .context import running_site

                g.site_timezone = running_site().timezone if g.get("user") else "Asia/Jakarta"
            except PnsboxError:
                g.site_timezone = "Asia/Jakarta"
        return g.site_timezone

    app.jinja_env.globals["site_timezone"] = site_timezone

    @app.template_filter("when")
    def when(timestamp: float | None, zone: str | None = None) -> str:
        """dd/mm/yyyy and 24-hour time in the site's timezone, as Indonesian offices write them."""
        if not timestamp:
            return "-"
        try:
            tz = ZoneInfo(zone or site_timezone())
        except (KeyError, ValueError):
            tz = ZoneInfo("UTC")
        return datetime.fromtimestamp(timestamp, tz).strftime("%d/%m/%Y %H:%M:%S %Z")
