"""The JSON REST API (/api/v1): the same operations as the pages, with the same role checks.
Authenticate with `Authorization: Bearer TOKEN` (tokens are made on the account page); a signed-in
browser may call it too, sending its CSRF token in X-CSRFToken for changes."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, g, jsonify, request

from pnsbox.control import messages as m
from pnsbox.errors import BadRequest, as_pnsbox_error
from pnsbox.model import Opd, format_rate

from . import roles
from .app import answer_error
from .changeset import apply_files, may_settle_pending, validated
from .config_edit import edit_opd
from .context import ctx, running_files, running_site, signed, status, user
from .openapi import document
from .site import as_json, opd_bandwidth

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_request
def csrf_for_browser_sessions():
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("via_token"):
        current_app.extensions["csrf"].protect()


@bp.errorhandler(ValueError)
@bp.errorhandler(LookupError)
def plain_refusal(exc):
    """The standard library's refusals (a bad value, a missing key) as pnsbox's BadRequest and NotFound."""
    return answer_error(as_pnsbox_error(exc))


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("send a JSON object (Content-Type: application/json)")
    return body


def _confirm(body: dict) -> int | None:
    seconds = body.get("confirm", ctx().settings.default_confirm)
    if seconds in (None, 0) and user().role == "admin":
        return None
    if not isinstance(seconds, int) or not 30 <= seconds <= 3600:
        raise ValueError("confirm: seconds from 30 to 3600 (admins may give 0 or null for none)")
    return seconds


@bp.route("/openapi.json")
def openapi():
    return jsonify(document())


@bp.route("/status")
def get_status():
    box = status()
    return jsonify({**m.to_json(box), "user": {"name": user().name, "role": user().role, "opds": user().opds}})


@bp.route("/live")
def live():
    """Counters and class stats for the graphs, limited to what the user may see."""
    counters = ctx().daemon.counters()
    visible = lambda opd: roles.can_see_opd(user(), opd)  # noqa: E731
    opds = {name: m.to_json(c) for name, c in counters.opds.items() if visible(name)}
    classes = {}
    for device, rows in ctx().daemon.classes().items():
        classes[device] = [m.to_json(row) for row in rows if row.label == "pipe" or visible(row.label.split("/")[0])
                           or (user().role != "operator" and row.label)]
    return jsonify(time=time.time(), pipe=running_site().pipe(), opds=opds, classes=classes)


@bp.route("/opds")
def list_opds():
    site = running_site()
    return jsonify({name: {**as_json(opd), "file": site.opd_files[name], "plan": opd_bandwidth(opd)}
                    for name, opd in roles.visible_opds(user(), site).items()})


def _visible(name: str) -> Opd:
    site = running_site()
    if name not in site.opds or not roles.can_see_opd(user(), name):
        raise LookupError(f"no OPD {name}")
    return site.opds[name]


@bp.route("/opds/<name>")
def get_opd(name: str):
    opd = _visible(name)
    return jsonify({**as_json(opd), "plan": opd_bandwidth(opd)})


@bp.route("/opds/<name>/bandwidth", methods=["PUT"])
def set_bandwidth(name: str):
    """Change an OPD's guarantee and ceiling and apply it at once (with a confirm deadline)."""
    roles.require(roles.can_change(user()), "auditors cannot change the configuration")
    _visible(name)
    body = _body()
    rates = {key: body.get(key) for key in ("guaranteed", "ceiling")}
    for key, value in rates.items():  # written into the YAML as sent: the model judges it as it would the file
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise BadRequest(f"{key}: a rate such as 50mbit")
    files = edit_opd(running_files(), name, **rates)
    plan = validated(files).opds[name].bandwidth
    message = body.get("message") or f"{name}: bandwidth {format_rate(plan.guaranteed)}/{format_rate(plan.ceiling)} (API)"
    return jsonify(m.to_json(apply_files(files, message, _confirm(body))))


@bp.route("/policies")
def policies():
    return jsonify([{"position": i + 1, **as_json(p)} for i, p in enumerate(running_site().policies)
                    if roles.can_see_policy(user(), p)])


@bp.route("/explain", methods=["POST"])
def explain():
    body = _body()
    source, target = str(body.get("from", "")), str(body.get("to", ""))
    if not roles.may_explain(user(), running_site(), source, target):
        raise roles.Forbidden("explain asks about your own OPDs")
    # /explain reads `from` as the source zone: a read-only call, not signed like changes are
    port = body.get("port")
    asked = m.ExplainRequest(source=source, target=target, port=str(port) if port is not None else None)
    return jsonify(m.to_json(ctx().daemon.explain(asked)))


@bp.route("/config")
def config():
    roles.require(roles.can_read_history(user()), "the whole config is for admins and auditors")
    return jsonify(version=status().running, files=running_files())


@bp.route("/plan", methods=["POST"])
def plan():
    files = _body().get("files")
    if not isinstance(files, dict):
        raise ValueError("files: an object of file name -> YAML text")
    roles.check_change_scope(user(), running_files(), files)
    return jsonify(m.to_json(ctx().daemon.plan(m.PlanRequest(files=files))))


@bp.route("/apply", methods=["POST"])
def apply():
    body = _body()
    if not isinstance(body.get("files"), dict):
        raise ValueError("files: an object of file name -> YAML text")
    return jsonify(m.to_json(apply_files(body["files"], str(body.get("message") or "API apply"), _confirm(body))))


@bp.route("/confirm", methods=["POST"])
def confirm():
    roles.require(may_settle_pending(status().pending), "you cannot confirm this change")
    return jsonify(m.to_json(ctx().daemon.confirm(m.ConfirmRequest(**signed()))))


@bp.route("/rollback", methods=["POST"])
def rollback():
    roles.require(user().role == "admin", "only admins roll back")
    body = _body()
    if not isinstance(body.get("version"), int) or isinstance(body["version"], bool):
        raise ValueError("version: the number of a version in the history")
    asked = m.RollbackRequest(version=body["version"], confirm=_confirm(body), **signed())
    return jsonify(m.to_json(ctx().daemon.rollback(asked)))


@bp.route("/history")
def history():
    roles.require(roles.can_read_history(user()), "the history is for admins and auditors")
    return jsonify([m.to_json(v) for v in ctx().daemon.history()])


@bp.route("/versions/<int:version>")
def version(version: int):
    roles.require(roles.can_read_history(user()), "the history is for admins and auditors")
    return jsonify(m.to_json(ctx().daemon.version(version)))


@bp.route("/diff/<int:a>/<int:b>")
def diff(a: int, b: int):
    roles.require(roles.can_read_history(user()), "the history is for admins and auditors")
    return jsonify(diff=ctx().daemon.diff(a, b))


@bp.route("/reports/<month>")
def report(month: str):
    """A month's evaluation per OPD you may see (and the province's, for admins and auditors)."""
    from .views.reports import month_report

    return jsonify(month_report(month) or abort(404))


@bp.route("/reports/<month>/hourly/<opd>")
def report_hourly(month: str, opd: str):
    """One OPD's month hour by hour (`*`: the province, not for operators): heatmap and curve data."""
    from .views.reports import month_hourly

    return jsonify(month_hourly(month, opd))


@bp.route("/usage")
def usage():
    """A month's usage per OPD you may see (?month=YYYY-MM; default this month)."""
    from .views.reports import month_usage

    return jsonify(month_usage(request.args.get("month")))


@bp.route("/audit")
def audit():
    roles.require(roles.can_read_history(user()), "the audit trail is for admins and auditors")
    return jsonify(entries=[m.to_json(e) for e in ctx().daemon.audit()], verify=m.to_json(ctx().daemon.audit_verify()))
