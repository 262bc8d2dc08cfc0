"""Where edge boxes enrol and fetch their config, over the web UI's HTTPS (/edges/v1).

No session and no CSRF token: an edge proves itself with its one-time token (enrollment) or
the credential it got then (config). pnsbox-web only relays to pnsboxd, which alone checks
tokens, records keys and answers; nothing here is kept."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from pnsbox.control import messages as m
from pnsbox.errors import PnsboxError

from .context import ctx, signed

bp = Blueprint("edges", __name__, url_prefix="/edges/v1")
# What an edge may send on each route: the request's own fields (who it is comes from here, signed)
ROUTES = {"enroll": (m.EnrollRequest, "edge_enroll"), "config": (m.EdgeConfigRequest, "edge_config"),
          "rotate": (m.RotateRequest, "edge_rotate")}


def _relay(what: str):
    kind, method = ROUTES[what]
    body = request.get_json(silent=True)
    try:
        fields = {f: body[f] for f in ("token", "credential", "public_key") if isinstance(body, dict) and f in body}
        asked = m.parse(kind, {**fields, **m.to_json(m.Signed(**signed("edge")))})
        reply = getattr(ctx().daemon, method)(asked)
    except PnsboxError as exc:
        return jsonify(exc.reply()), exc.http_status
    return jsonify(m.to_json(reply))


def edge_states() -> dict:
    """OPD -> what pnsboxd knows of its edge (enrolled, up, last handshake, endpoint, version,
    key age); empty when pnsboxd cannot say (no tunnels, an older daemon)."""
    try:
        return m.to_json(ctx().daemon.edges())["edges"]
    except PnsboxError:
        return {}


@bp.route("/enroll", methods=["POST"])
def enroll():
    return _relay("enroll")


@bp.route("/config", methods=["POST"])
def config():
    return _relay("config")


@bp.route("/rotate", methods=["POST"])
def rotate():
    return _relay("rotate")
