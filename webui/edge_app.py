"""The edge listener: a Flask application that serves the edge API alone (/edges/v1: enroll,
config, rotate) and nothing of the admin web UI, no login page, no static files, no sessions.

`pnsbox-web --edges` serves it on its own address (site.edges_url), so the address every edge
box in the province must reach is not also the address of the admins' login; the admin web UI
in turn refuses the edge API (webui.app). Like the rest of pnsbox-web it only relays to pnsboxd."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from pnsbox.control.client import ControlClient

from . import edges
from .context import WebContext
from .settings import Settings

MAX_BODY = 16 * 1024  # a token or a credential and a public key


def create_edge_app(settings: Settings | None = None, daemon: ControlClient | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__, static_folder=None)  # no /static: nothing here but the edge API
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY)
    app.extensions["pnsbox"] = WebContext(settings=settings, accounts=None, daemon=daemon or ControlClient(settings.socket),
                                          drafts=None, throttle=None, sessions=None)
    app.register_blueprint(edges.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc):  # 404 for any admin page, 405, 413: JSON, as an edge reads it
        return jsonify(error=exc.description if exc.code != 404 else "not found: this listener serves only the edge "
                       "API (/edges/v1/enroll, /edges/v1/config, /edges/v1/rotate)", kind="error"), exc.code or 500

    @app.after_request
    def headers(response):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return app
