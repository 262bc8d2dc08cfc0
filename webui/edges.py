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
FIELDS = {"enroll": ("token", "public_key"), "config": ("credential",), "rotate": ("credential", "public_key")}
OPTIONAL = {"config": ("public_key",)}  # the key the edge runs (ends a rotation)


def _relay(what: str):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in FIELDS[what]):
        return jsonify(error=f"send a JSON object with {', '.join(FIELDS[what])}"), 400
    try:
        given = {k: body[k] for k in FIELDS[what]}
        given |= {k: body[k] for k in OPTIONAL.get(what, ()) if isinstance(body.get(k), str)}
        reply = ctx().daemon.signed_post(f"/edges/{what}", given,
                                         m.Signed(**signed("edge")))
    except PnsboxError as exc:
        return jsonify(exc.reply()), exc.http_status
    return jsonify(reply)


def edge_states() -> dict:
    """OPD -> what pnsboxd knows of its edge (enrolled, up, last handshake, endpoint, version,
    key age); empty when pnsboxd cannot say (no tunnels, an older daemon)."""
    try:
        return ctx().daemon.get("/edges").get("edges", {})
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
